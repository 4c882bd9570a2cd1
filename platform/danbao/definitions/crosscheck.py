"""Checks that span files: every id a definition names must exist, every graph must be sound.

Runs on files that passed their meta-schema. A file that exists but failed validation
still counts as existing (so one fault is not reported twice), but nothing inside it
is trusted.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .aftercare import aftercare_errors
from .chains import check_workflow
from .conditions import check_condition
from .errors import DefinitionError, join, pointer
from .fieldkinds import RESERVED_DICTIONARIES, dictionary_references
from .formschema import field_types
from .graph import find_cycles
from .layout import Kind, path_for, template_path
from .numbering import NumberingPattern
from .portal import portal_errors
from .project import approval_errors, project_errors
from .scope_conditions import ConditionSyntaxError, NotInSubset, compile_condition
from .subject import subject_errors
from .templates import FormShape, check_template

Fields = dict[str, frozenset[str]]


@dataclass
class Catalog:
    """What the bundle holds; a value of None means "present but invalid"."""

    tenant: dict[str, Any] | None = None
    permissions: dict[str, Any] | None = None
    forms: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    workflows: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    reports: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    dictionaries: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    documents: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    templates: dict[str, str | None] = field(default_factory=dict)
    """File name in templates/ (``letter.html``) -> its text."""

    def fields_of(self, form_id: str) -> Fields | None:
        form = self.forms.get(form_id)
        return field_types(form["schema"]) if form else None

    def role_ids(self) -> set[str] | None:
        if self.permissions is None:
            return None
        return {role["id"] for role in self.permissions["roles"]}


def crosscheck(catalog: Catalog) -> list[DefinitionError]:
    errors: list[DefinitionError] = []
    if catalog.tenant is not None:
        errors += _tenant(catalog.tenant)
        errors += project_errors(catalog.tenant, catalog.forms)
        errors += approval_errors(catalog.tenant, catalog.forms, catalog.workflows)
        errors += aftercare_errors(catalog.tenant)
        errors += portal_errors(catalog.tenant, catalog.forms)
    if catalog.permissions is not None:
        errors += _permissions(catalog.permissions, catalog)
    for form_id, form in catalog.forms.items():
        if form is not None:
            errors += subject_errors(path_for(Kind.FORM, form_id), form)
    for workflow in catalog.workflows.values():
        if workflow is not None:
            errors += _workflow(workflow, catalog)
    for report in catalog.reports.values():
        if report is not None:
            errors += _report(report, catalog)
    for form_id, form in catalog.forms.items():
        if form is not None:
            errors += _dictionary_references(form_id, form, catalog)
    for dictionary in catalog.dictionaries.values():
        if dictionary is not None:
            errors += _dictionary(dictionary)
    errors += _documents(catalog)
    return errors


def _dictionary_references(
    form_id: str, form: dict[str, Any], catalog: Catalog
) -> list[DefinitionError]:
    file = path_for(Kind.FORM, form_id)
    return [
        DefinitionError(file, at, f"no dictionary {name!r} in dictionaries/")
        for at, name in dictionary_references(form["schema"])
        if name not in catalog.dictionaries
    ]


def _dictionary(dictionary: dict[str, Any]) -> list[DefinitionError]:
    """Codes are unique across the whole tree: a record stores the code alone."""
    file = path_for(Kind.DICTIONARY, dictionary["id"])
    errors: list[DefinitionError] = []
    if dictionary["id"] in RESERVED_DICTIONARIES:
        errors.append(
            DefinitionError(
                file, "/id", f"{dictionary['id']!r} is reserved for the pickers; choose another id"
            )
        )
    first: dict[str, str] = {}
    levels = len(dictionary.get("levels", []))

    def walk(items: list[dict[str, Any]], base: str, depth: int) -> None:
        # In document order, so "first at" names the earlier of two equal codes.
        for index, item in enumerate(items):
            at = join(base, index)
            code = item["code"]
            if code in first:
                errors.append(
                    DefinitionError(
                        file, join(at, "code"), f"duplicate code {code!r} (first at {first[code]})"
                    )
                )
            else:
                first[code] = join(at, "code")
            if "items" in item:
                if levels and depth + 1 >= levels:
                    errors.append(
                        DefinitionError(
                            file,
                            join(at, "items"),
                            f"deeper than the {levels} levels named in /levels",
                        )
                    )
                walk(item["items"], join(at, "items"), depth + 1)

    walk(dictionary["items"], "/items", 0)
    return errors


def _documents(catalog: Catalog) -> list[DefinitionError]:
    """Each declaration names a template, a form and a numbering that exist; each template
    is checked against the form of every document rendered with it."""
    errors: list[DefinitionError] = []
    shapes: dict[str, list[FormShape | None]] = {name: [] for name in catalog.templates}
    numbering = catalog.tenant["numbering"] if catalog.tenant is not None else None
    for doc_id, doc in catalog.documents.items():
        if doc is None:
            continue
        file = path_for(Kind.DOCUMENT, doc_id)
        form = catalog.forms.get(doc["form"])
        if doc["form"] not in catalog.forms:
            errors.append(DefinitionError(file, "/form", f"no form {doc['form']!r} in forms/"))
        if form is not None:
            for role, name in doc.get("verification", {}).items():
                if name not in form["schema"].get("properties", {}):
                    errors.append(
                        DefinitionError(
                            file,
                            pointer("verification", role),
                            f"{name!r} is not a field of form {doc['form']!r}",
                        )
                    )
        if doc["template"] not in catalog.templates:
            errors.append(
                DefinitionError(
                    file, "/template", f"no template {template_path(doc['template'])!r}"
                )
            )
        else:
            shapes[doc["template"]].append(FormShape.of(form) if form is not None else None)
        key = doc.get("numbering")
        if key is not None and numbering is not None and key not in numbering:
            errors.append(
                DefinitionError(file, "/numbering", f"no numbering {key!r} in tenant.json")
            )
    for name, text in catalog.templates.items():
        if text is None:
            continue
        for shape in shapes[name] or [None]:
            for error in check_template(template_path(name), text, shape):
                if error not in errors:
                    errors.append(error)
    return errors


def _tenant(tenant: dict[str, Any]) -> list[DefinitionError]:
    errors = []
    for name, text in tenant["numbering"].items():
        try:
            NumberingPattern.parse(text)
        except ValueError as exc:
            errors.append(DefinitionError("tenant.json", pointer("numbering", name), str(exc)))
    for section in ("holidays", "workdays"):
        for index, text in enumerate(tenant.get("calendar", {}).get(section, [])):
            try:
                datetime.date.fromisoformat(text)
            except ValueError:
                errors.append(
                    DefinitionError(
                        "tenant.json",
                        pointer("calendar", section, index),
                        f"{text!r} is not a date",
                    )
                )
    return errors


def _unique(file: str, items: list[dict[str, Any]], base: str, what: str) -> list[DefinitionError]:
    first: dict[str, int] = {}
    errors = []
    for index, item in enumerate(items):
        if item["id"] in first:
            earlier = join(base, first[item["id"]])
            errors.append(
                DefinitionError(
                    file,
                    join(base, index, "id"),
                    f"duplicate {what} id {item['id']!r} (first at {earlier})",
                )
            )
        else:
            first[item["id"]] = index
    return errors


def _cycle_errors(
    file: str, cycles: list[list[str]], place: dict[str, str], what: str
) -> list[DefinitionError]:
    return [
        DefinitionError(file, place[cycle[0]], f"{what} is circular: {' → '.join(cycle)}")
        for cycle in cycles
    ]


def _permissions(perms: dict[str, Any], catalog: Catalog) -> list[DefinitionError]:
    file = "permissions.json"
    roles: list[dict[str, Any]] = perms["roles"]
    departments: list[dict[str, Any]] = perms.get("departments", [])
    role_ids = {r["id"] for r in roles}
    errors = _unique(file, roles, "/roles", "role")
    errors += _unique(file, departments, "/departments", "department")

    for index, role in enumerate(roles):
        for position, parent in enumerate(role.get("inherits", [])):
            if parent not in role_ids:
                errors.append(
                    DefinitionError(
                        file, pointer("roles", index, "inherits", position), f"no role {parent!r}"
                    )
                )
    inherits = {r["id"]: r.get("inherits", []) for r in roles}
    places = {r["id"]: pointer("roles", i, "inherits") for i, r in enumerate(roles)}
    errors += _cycle_errors(file, find_cycles(inherits), places, "role inheritance")

    dept_ids = {d["id"] for d in departments}
    for index, dept in enumerate(departments):
        if "parent" in dept and dept["parent"] not in dept_ids:
            errors.append(
                DefinitionError(
                    file,
                    pointer("departments", index, "parent"),
                    f"no department {dept['parent']!r}",
                )
            )
    parents = {d["id"]: [d["parent"]] if "parent" in d else [] for d in departments}
    places = {d["id"]: pointer("departments", i, "parent") for i, d in enumerate(departments)}
    errors += _cycle_errors(file, find_cycles(parents), places, "department tree")

    for section in ("grants", "data_scopes"):
        for role, resources in perms.get(section, {}).items():
            if role not in role_ids:
                errors.append(DefinitionError(file, pointer(section, role), f"no role {role!r}"))
            for resource in resources:
                problem = _resource_problem(resource, catalog)
                if problem:
                    errors.append(DefinitionError(file, pointer(section, role, resource), problem))

    for role, resources in perms.get("data_scopes", {}).items():
        for resource, scope in resources.items():
            if resource.startswith("project:"):
                message = (
                    "a project is seen by whoever sees its application record: declare the "
                    "scope on form:<id> (docs/lifecycle.md)"
                )
                errors.append(
                    DefinitionError(file, pointer("data_scopes", role, resource), message)
                )
            elif isinstance(scope, dict):
                errors += _scope_condition(
                    pointer("data_scopes", role, resource), resource, scope, catalog
                )

    for role, forms in perms.get("field_rules", {}).items():
        if role not in role_ids:
            errors.append(DefinitionError(file, pointer("field_rules", role), f"no role {role!r}"))
        for form_id, rules in forms.items():
            at = pointer("field_rules", role, form_id)
            if form_id not in catalog.forms:
                errors.append(DefinitionError(file, at, f"no form {form_id!r}"))
                continue
            fields = catalog.fields_of(form_id)
            form = catalog.forms.get(form_id)
            for name in rules:
                if fields is None or form is None:
                    continue
                if "." in name:  # a row field of a repeating section: shareholders.id_number
                    if not _is_row_field(form, name):
                        errors.append(
                            DefinitionError(
                                file,
                                join(at, name),
                                f"{name!r} is not a row field of form {form_id!r} "
                                "(<repeating section>.<field of its rows>)",
                            )
                        )
                elif name not in fields:
                    errors.append(
                        DefinitionError(
                            file, join(at, name), f"{name!r} is not a field of form {form_id!r}"
                        )
                    )
    return errors


def _scope_condition(
    at: str, resource: str, scope: dict[str, Any], catalog: Catalog
) -> list[DefinitionError]:
    """A condition reads one form's fields, so it needs that form named, and must lie in
    the subset the records query can apply (definitions.scope_conditions)."""
    file, where = "permissions.json", join(at, "condition")
    kind, _, form_id = resource.partition(":")
    if kind != "form" or form_id == "*":
        message = "a scope condition reads a form's fields: it needs a named form:<id>"
        return [DefinitionError(file, where, message)]
    form = catalog.forms.get(form_id)
    if form is None:
        return []  # the missing form is reported on the resource already
    try:
        compile_condition(scope["condition"], form["schema"])
    except (ConditionSyntaxError, NotInSubset) as exc:
        return [DefinitionError(file, where, f"{exc} (form {form_id!r})")]
    return []


def _is_row_field(form: dict[str, Any], name: str) -> bool:
    field, _, sub = name.partition(".")
    prop = form["schema"].get("properties", {}).get(field, {})
    items = prop.get("items") if isinstance(prop, dict) else None
    return isinstance(items, dict) and sub in items.get("properties", {})


def _resource_problem(resource: str, catalog: Catalog) -> str | None:
    kind, _, name = resource.partition(":")
    known = {"form": catalog.forms, "workflow": catalog.workflows, "report": catalog.reports}
    if kind in known and name != "*" and name not in known[kind]:
        return f"no {kind} {name!r} in this bundle"
    return None


def _workflow(workflow: dict[str, Any], catalog: Catalog) -> list[DefinitionError]:
    return check_workflow(path_for(Kind.WORKFLOW, workflow["id"]), workflow, catalog)


def _report(report: dict[str, Any], catalog: Catalog) -> list[DefinitionError]:
    file = path_for(Kind.REPORT, report["id"])
    dataset = report["dataset"]
    form_id = dataset["form"]
    if form_id not in catalog.forms:
        return [DefinitionError(file, "/dataset/form", f"no form {form_id!r} in forms/")]
    fields = catalog.fields_of(form_id)
    if fields is None:
        return []
    errors: list[DefinitionError] = []
    for index, text in enumerate(dataset.get("filters", [])):
        errors += check_condition(file, pointer("dataset", "filters", index), text, fields, form_id)
    for index, name in enumerate(dataset["group_by"]):
        at = pointer("dataset", "group_by", index)
        if name not in fields:
            errors.append(DefinitionError(file, at, f"{name!r} is not a field of form {form_id!r}"))
        elif fields[name] & {"object", "array"}:
            errors.append(
                DefinitionError(file, at, f"cannot group by {name!r}: not a single value")
            )
    for index, measure in enumerate(dataset["measures"]):
        if "field" not in measure:
            continue
        at = pointer("dataset", "measures", index, "field")
        name = measure["field"]
        if name not in fields:
            errors.append(DefinitionError(file, at, f"{name!r} is not a field of form {form_id!r}"))
        elif (
            measure["agg"] in ("sum", "avg")
            and fields[name]
            and not (fields[name] & {"number", "integer"})
        ):
            errors.append(
                DefinitionError(file, at, f"cannot {measure['agg']} {name!r}: it is not a number")
            )
    return errors
