"""Checks on a form's conditional logic and computed fields (``ui.fields``).

Every expression must parse, read only fields of the form (and, in a repeating section's
``items``, the current ``row``'s keys), call known functions and compare like with like;
computed fields must not depend on themselves; keys that make no sense where they are
(``items`` on a plain field, ``readonly_when`` on a row's field) are refused. The
runtime is ``danbao.records.logic``; the order of computation comes from
:func:`compute_graph` here, so the check and the runtime see the same dependencies.
"""

from __future__ import annotations

from typing import Any

from .conditions import ROW, ConditionSyntaxError, analyse, check_condition
from .errors import DefinitionError, join, pointer
from .graph import find_cycles

Fields = dict[str, frozenset[str]]
Target = tuple[str, str | None]  # (field, None) or (repeating field, key of its rows)

EXPRESSIONS = ("visible_when", "required_when", "readonly_when", "compute")
_COMPUTABLE = frozenset({"number", "integer", "string", "boolean"})


def row_schema(prop: Any) -> dict[str, Any] | None:
    """The item schema of a repeating section (an array of objects), else None."""
    if not isinstance(prop, dict) or prop.get("type") != "array":
        return None
    items = prop.get("items")
    if isinstance(items, dict) and items.get("type") == "object" and "properties" in items:
        return items
    return None


def check_logic(file: str, form: dict[str, Any], fields: Fields) -> list[DefinitionError]:
    from .formschema import field_types  # formschema calls this module

    errors: list[DefinitionError] = []
    form_id = form["id"]
    properties = form["schema"].get("properties", {})
    for name, settings in form["ui"].get("fields", {}).items():
        if name not in fields:
            continue  # reported by the layout check
        at = pointer("ui", "fields", name)
        errors += _check_settings(file, at, settings, fields, form_id, fields[name])
        if "items" not in settings:
            continue
        items = row_schema(properties.get(name))
        if items is None:
            errors.append(
                DefinitionError(
                    file,
                    join(at, "items"),
                    "items applies only to a repeating section (an array of objects)",
                )
            )
            continue
        row = field_types(items)
        for key, cell in settings["items"].items():
            cell_at = join(at, "items", key)
            if key not in row:
                errors.append(
                    DefinitionError(
                        file, cell_at, f"{key!r} is not a field of the rows of {name!r}"
                    )
                )
                continue
            if "readonly_when" in cell:
                errors.append(
                    DefinitionError(
                        file,
                        join(cell_at, "readonly_when"),
                        "readonly_when is not supported in the rows of a repeating section "
                        "(rows have no identity to keep a stored value by)",
                    )
                )
            if "items" in cell:
                errors.append(
                    DefinitionError(file, join(cell_at, "items"), "repeating sections do not nest")
                )
            errors += _check_settings(
                file, cell_at, cell, fields, form_id, row[key], row=row, rows_of=name
            )
    errors += _check_cycles(file, form)
    return errors


def _check_settings(
    file: str,
    at: str,
    settings: dict[str, Any],
    fields: Fields,
    form_id: str,
    types: frozenset[str],
    *,
    row: Fields | None = None,
    rows_of: str = "",
) -> list[DefinitionError]:
    errors: list[DefinitionError] = []
    for key in EXPRESSIONS:
        if key in settings:
            errors += check_condition(
                file, join(at, key), settings[key], fields, form_id, row=row, rows_of=rows_of
            )
    if "compute" in settings and types and not types & _COMPUTABLE:
        errors.append(
            DefinitionError(
                file,
                join(at, "compute"),
                "a computed field holds a number, text or true/false, "
                f"not {'/'.join(sorted(types))}",
            )
        )
    if "places" in settings and not ("compute" in settings and types & {"number"}):
        errors.append(
            DefinitionError(file, join(at, "places"), "places applies only to a computed number")
        )
    return errors


def compute_graph(form: dict[str, Any]) -> dict[Target, set[Target]]:
    """Each computed target -> the computed targets its expression reads.

    A top-level name reads that field, or every computed key of the rows when it names a
    repeating section; ``row.key`` in a row's field reads that key of the same row.
    Expressions that do not parse read nothing (their own check reports them).
    """
    settings_of: dict[Target, str] = {}
    for name, settings in form.get("ui", {}).get("fields", {}).items():
        if "compute" in settings:
            settings_of[(name, None)] = settings["compute"]
        for key, cell in (settings.get("items") or {}).items():
            if isinstance(cell, dict) and "compute" in cell:
                settings_of[(name, key)] = cell["compute"]
    targets = set(settings_of)
    graph: dict[Target, set[Target]] = {}
    for (name, key), text in settings_of.items():
        try:
            read = analyse(text)
        except ConditionSyntaxError:
            graph[(name, key)] = set()
            continue
        needs: set[Target] = set()
        for field in read.names:
            needs |= {t for t in targets if t[0] == field}
        if key is not None:
            needs |= {(name, k) for base, k in read.members if base == ROW} & targets
        graph[(name, key)] = needs
    return graph


def _label(target: Target) -> str:
    name, key = target
    return name if key is None else f"{name}[].{key}"


def _check_cycles(file: str, form: dict[str, Any]) -> list[DefinitionError]:
    graph = compute_graph(form)
    edges = {
        _label(t): [_label(n) for n in sorted(needs, key=_label)] for t, needs in graph.items()
    }
    place = {
        _label((name, key)): pointer("ui", "fields", name, "compute")
        if key is None
        else pointer("ui", "fields", name, "items", key, "compute")
        for name, key in graph
    }
    return [
        DefinitionError(file, place[cycle[0]], f"computed fields are circular: {' → '.join(cycle)}")
        for cycle in find_cycles(edges)
    ]
