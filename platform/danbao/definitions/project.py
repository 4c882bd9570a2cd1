"""The ``project`` section of tenant.json: which application-form fields feed which
attribute of a guarantee project, per application form.

The vocabulary (attributes, their kinds, the business and client type codes) is here,
below ``guarantee`` which reads records through it; the meta-schema
(schemas/tenant.schema.json) spells the same codes, and a test keeps the two equal.

Example::

    "project": {"sources": {"application": {
        "business_type": {"field": "business_type", "values": {"working_capital": "loan"}},
        "client_type": {"value": "small"},
        "amount": {"field": "amount"},
        "bank_risk_share": {"field": "bank_risk_share_pct", "percent": true},
        "borrower_id": {"field": "uscc"}}},
     "approvals": {"review": {"approved": "approve", "rejected": "reject"}}}

``approvals`` (optional): when an approval of a project's application record finishes,
the event its outcome fires on the project (``guarantee.approval_link``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import DefinitionError, join, pointer
from .formschema import field_types

BUSINESS_TYPES = (
    "loan",  # 借款类 (other loans, weight 1.00 unless the client type lowers it)
    "housing_loan",  # 住房置业担保 (weight 0.30)
    "bond",  # 发行债券担保
    "other_financing",  # 其他融资担保: funds, trusts, asset-management plans, ABS
    "performance",  # 非融资: 工程履约
    "litigation_preservation",  # 非融资: 诉讼保全
    "other_non_financing",  # 非融资: 其他
)
CLIENT_TYPES = ("small", "micro", "farmer", "individual", "other")
APPROVAL_EVENTS: Mapping[str, str] = {
    "approve": "approved",
    "reject": "rejected",
    "compensate": "approved",
    "write_off": "approved",
}
"""The project events that need the approval chain's decision -> the outcome the chain
must reach to carry them (the transition table marks the same events needs_approval;
a test keeps the two equal)."""


class Kind(StrEnum):
    CODE = "code"  # one of a fixed list of codes, from a string field (mapped through values)
    TEXT = "text"  # a string
    DECIMAL = "decimal"  # an exact amount, from a number field
    RATIO = "ratio"  # 0..1, from a number field (percent: the field holds 0..100)
    INTEGER = "integer"


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: Kind
    required: bool = False
    codes: tuple[str, ...] = ()
    sensitive: bool = False


ATTRIBUTES: Mapping[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("business_type", Kind.CODE, required=True, codes=BUSINESS_TYPES),
        Attribute("client_type", Kind.CODE, required=True, codes=CLIENT_TYPES),
        Attribute("amount", Kind.DECIMAL, required=True),
        Attribute("borrower_id", Kind.TEXT, required=True, sensitive=True),
        Attribute("term_months", Kind.INTEGER),
        Attribute("fee_rate", Kind.RATIO),
        Attribute("lending_bank", Kind.TEXT),
        Attribute("bank_risk_share", Kind.RATIO),
        Attribute("related_group", Kind.TEXT),
        Attribute("industry", Kind.TEXT),
        Attribute("region", Kind.TEXT),
    )
}

_FIELD_TYPES = {
    Kind.CODE: {"string"},
    Kind.TEXT: {"string"},
    Kind.DECIMAL: {"number", "integer"},
    Kind.RATIO: {"number", "integer"},
    Kind.INTEGER: {"integer"},
}


def choices(prop: Mapping[str, Any]) -> list[Any] | None:
    """The values a field may take when it is a choice (enum or oneOf consts), else None."""
    if isinstance(prop.get("enum"), list):
        return list(prop["enum"])
    consts = [c["const"] for c in prop.get("oneOf", []) if isinstance(c, dict) and "const" in c]
    return consts or None


def project_errors(
    tenant: Mapping[str, Any], forms: Mapping[str, Mapping[str, Any] | None]
) -> list[DefinitionError]:
    """Cross-checks of tenant.json ``/project`` against the forms it names (the section
    passed its meta-schema already)."""
    section = tenant.get("project")
    if not isinstance(section, Mapping):
        return []
    errors: list[DefinitionError] = []
    for form_id, mapping in section["sources"].items():
        at = pointer("project", "sources", form_id)
        if form_id not in forms:
            errors.append(DefinitionError("tenant.json", at, f"no form {form_id!r} in forms/"))
            continue
        form = forms[form_id]
        if form is None:
            continue  # present but invalid: reported on the form itself
        for name, spec in mapping.items():
            if name in ATTRIBUTES:
                errors += _attribute_errors(at, form_id, form["schema"], ATTRIBUTES[name], spec)
    return errors


def _attribute_errors(
    at: str, form_id: str, schema: Mapping[str, Any], attribute: Attribute, spec: Mapping[str, Any]
) -> list[DefinitionError]:
    where = join(at, attribute.name)

    def error(suffix: tuple[str, ...], message: str) -> list[DefinitionError]:
        return [DefinitionError("tenant.json", join(where, *suffix), message)]

    if "field" not in spec:
        return []  # a constant: its form is the meta-schema's business
    field = spec["field"]
    prop = schema.get("properties", {}).get(field)
    if not isinstance(prop, Mapping):
        return error(("field",), f"{field!r} is not a top-level field of form {form_id!r}")
    types = field_types(dict(schema))[field]
    wanted = _FIELD_TYPES[attribute.kind]
    if types and not types <= wanted:
        return error(
            ("field",),
            f"{field!r} holds {' or '.join(sorted(types))}; {attribute.name} needs "
            f"{' or '.join(sorted(wanted))}",
        )
    if prop.get("x-sensitive") is True and not attribute.sensitive:
        return error(
            ("field",),
            f"{field!r} is a sensitive field; only borrower_id may read one "
            f"(the project stores {attribute.name} in clear)",
        )
    if attribute.kind is Kind.CODE:
        return _code_errors(where, field, prop, attribute, spec.get("values"))
    return []


def _code_errors(
    where: str,
    field: str,
    prop: Mapping[str, Any],
    attribute: Attribute,
    values: Mapping[str, str] | None,
) -> list[DefinitionError]:
    options = choices(prop)
    errors: list[DefinitionError] = []
    if options is None:
        if values is None:
            message = (
                f"{field!r} is free text; to feed {attribute.name} give values "
                "(field value -> code)"
            )
            errors.append(DefinitionError("tenant.json", where, message))
        return errors
    for key in values or {}:
        if key not in options:
            errors.append(
                DefinitionError(
                    "tenant.json",
                    join(where, "values", key),
                    f"{key!r} is not a choice of {field!r}",
                )
            )
    for option in options:
        if option in (values or {}) or option in attribute.codes:
            continue
        errors.append(
            DefinitionError(
                "tenant.json",
                join(where, "values"),
                f"choice {option!r} of {field!r} is not mapped to a {attribute.name} "
                f"({', '.join(attribute.codes)})",
            )
        )
    return errors


def approval_errors(
    tenant: Mapping[str, Any],
    forms: Mapping[str, Mapping[str, Any] | None],
    workflows: Mapping[str, Mapping[str, Any] | None],
) -> list[DefinitionError]:
    """Cross-checks of tenant.json ``/project/approvals``: the chain exists and runs on a
    form that becomes a project, and each outcome names an event needing that outcome."""
    section = tenant.get("project")
    if not isinstance(section, Mapping):
        return []
    sources = section["sources"]
    errors: list[DefinitionError] = []
    for workflow_id, outcomes in section.get("approvals", {}).items():
        at = pointer("project", "approvals", workflow_id)
        if workflow_id not in workflows:
            errors.append(
                DefinitionError(
                    "tenant.json", at, f"no approval chain {workflow_id!r} in workflows/"
                )
            )
        else:
            workflow = workflows[workflow_id]
            form_id = workflow.get("form") if workflow is not None else None
            settled = all(f in forms for f in sources)  # else that fault is reported already
            if settled and isinstance(form_id, str) and form_id not in sources:
                message = (
                    f"chain {workflow_id!r} runs on form {form_id!r}, which is not a "
                    "project source (/project/sources): its approvals have no project"
                )
                errors.append(DefinitionError("tenant.json", at, message))
        for outcome, event in outcomes.items():
            needed = APPROVAL_EVENTS.get(event)
            if needed == outcome:
                continue
            if needed is None:
                message = (
                    f"{event!r} is not a project event that needs approval; "
                    f"those are: {', '.join(APPROVAL_EVENTS)}"
                )
            else:
                message = f"{event!r} needs the chain's outcome {needed!r}, not {outcome!r}"
            errors.append(DefinitionError("tenant.json", join(at, outcome), message))
    return errors
