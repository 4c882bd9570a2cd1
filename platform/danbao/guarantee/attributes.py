"""Reading a project's regulatory attributes from an application record, through the
tenant's ``project`` mapping (tenant.json; vocabulary in ``definitions.project``).

The bundle's cross-checks already hold (fields exist with the right types, every choice
maps to a code); what remains is the record's own data: a required value missing, an
amount with more than two decimals, a free-text value with no code. Each fault names the
record field by JSON pointer, and the whole reading is refused, never half-taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from danbao.definitions.errors import pointer
from danbao.definitions.project import ATTRIBUTES, Attribute, Kind

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999999999.99")


@dataclass(frozen=True)
class AttributeFault:
    """One fault: where (a pointer into the record's data, or into tenant.json) and why."""

    pointer: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class AttributesInvalid(ValueError):
    def __init__(self, errors: list[AttributeFault]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.pointer}: {e.message}" for e in errors))


@dataclass(frozen=True)
class ProjectAttributes:
    business_type: str
    client_type: str
    amount: Decimal
    borrower_id: str
    term_months: int | None = None
    fee_rate: Decimal | None = None
    lending_bank: str | None = None
    bank_risk_share: Decimal = Decimal(0)
    related_group: str | None = None
    industry: str | None = None
    region: str | None = None

    def __repr__(self) -> str:  # the borrower's certificate number never reaches a log
        return f"ProjectAttributes(business_type={self.business_type!r}, amount={self.amount})"

    def public(self) -> dict[str, Any]:
        """The attributes as JSON, without the borrower's certificate number."""
        return {
            "business_type": self.business_type,
            "client_type": self.client_type,
            "amount": str(self.amount),
            "term_months": self.term_months,
            "fee_rate": None if self.fee_rate is None else str(self.fee_rate),
            "lending_bank": self.lending_bank,
            "bank_risk_share": str(self.bank_risk_share),
            "related_group": self.related_group,
            "industry": self.industry,
            "region": self.region,
        }


def mapping_for(tenant: Mapping[str, Any], form_id: str) -> Mapping[str, Any] | None:
    """The tenant's mapping for records of ``form_id``, or None when they make no project."""
    section = tenant.get("project")
    if not isinstance(section, Mapping):
        return None
    found = section["sources"].get(form_id)
    return found if isinstance(found, Mapping) else None


def read_attributes(mapping: Mapping[str, Any], data: Mapping[str, Any]) -> ProjectAttributes:
    """The attributes of an (opened) record's ``data``; AttributesInvalid lists every fault."""
    values: dict[str, Any] = {}
    errors: list[AttributeFault] = []
    for name, attribute in ATTRIBUTES.items():
        spec = mapping.get(name)
        if spec is None:
            continue
        try:
            value = _one(attribute, spec, data)
        except _Fault as fault:
            errors.append(AttributeFault(fault.where, fault.message))
            continue
        if value is None and attribute.required:
            where = pointer(spec["field"]) if "field" in spec else ""
            errors.append(AttributeFault(where, f"{name} is required for a project"))
        elif value is not None:
            values[name] = value
    if errors:
        raise AttributesInvalid(errors)
    return ProjectAttributes(**values)


class _Fault(Exception):
    def __init__(self, where: str, message: str) -> None:
        self.where, self.message = where, message


def _one(attribute: Attribute, spec: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    if "value" in spec:
        return _convert(attribute, spec["value"], "", percent=False)
    field = spec["field"]
    raw = data.get(field)
    if raw is None or raw == "":
        return None
    where = pointer(field)
    if attribute.kind is Kind.CODE:
        codes: Mapping[str, str] = spec.get("values", {})
        raw = codes.get(raw, raw) if isinstance(raw, str) else raw
    if spec.get("unit") == "wan" and isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = Decimal(str(raw)) * 10000  # a form in 万元; the project holds yuan
    return _convert(attribute, raw, where, percent=bool(spec.get("percent")))


def _convert(attribute: Attribute, raw: Any, where: str, *, percent: bool) -> Any:
    name = attribute.name
    match attribute.kind:
        case Kind.CODE:
            if raw not in attribute.codes:
                raise _Fault(where, f"{raw!r} is not a {name} ({', '.join(attribute.codes)})")
            return raw
        case Kind.TEXT:
            if not isinstance(raw, str):
                raise _Fault(where, f"{name} must be text")
            text = raw.strip()
            if len(text) > 100:
                raise _Fault(where, f"{name} is longer than 100 characters")
            return text or None
        case Kind.INTEGER:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                raise _Fault(where, f"{name} must be a whole number of at least 1")
            return raw
        case Kind.DECIMAL | Kind.RATIO:
            return _decimal(attribute, raw, where, percent)
    raise AssertionError(attribute.kind)  # pragma: no cover


def _decimal(attribute: Attribute, raw: Any, where: str, percent: bool) -> Decimal:
    name = attribute.name
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise _Fault(where, f"{name} must be a number")
    try:
        # str() first: a float's shortest repr is what the applicant typed (0.1, not 0.1000…).
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise _Fault(where, f"{name} must be a number") from exc
    if not value.is_finite():
        raise _Fault(where, f"{name} must be a number")
    if attribute.kind is Kind.DECIMAL:
        if value <= 0 or value > MAX_AMOUNT:
            raise _Fault(where, f"{name} must be above 0 and below 10^18")
        if value != value.quantize(CENT):
            raise _Fault(where, f"{name} has more than two decimals (fen)")
        return value.quantize(CENT)
    if percent:
        value = value / 100
    if not Decimal(0) <= value <= Decimal(1):
        limit = "0 and 100 (percent)" if percent else "0 and 1"
        raise _Fault(where, f"{name} must be between {limit}")
    if value != value.quantize(Decimal("0.000001")):
        raise _Fault(where, f"{name} has more than six decimals")
    return value
