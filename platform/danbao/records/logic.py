"""A form's conditional logic and computed fields, applied to a record's data.

The definition's ``ui.fields`` (and ``ui.fields.<table>.items`` for the fields of a
repeating section's rows) may give a field:

- ``visible_when``: shown only while it holds; a section's ``visible_when`` covers its fields;
- ``required_when``: required (on submit) while it holds;
- ``readonly_when``: while it holds, a save keeps the stored value (actions.py);
- ``compute`` (with ``places``): the value is computed, never taken from the caller.

:func:`FormLogic.run` is the one algorithm; ``console/static/logic.js`` runs the same on
the same :attr:`FormLogic.spec` in the browser, and ``tests/logic_cases.json`` holds them
to it. The rule for hidden values (docs/forms.md): computed fields are computed from the
values given, every condition is evaluated on the result, and the values of hidden fields
are dropped; as dropping a value may change what other conditions see, this repeats until
nothing more is dropped (each round drops at least one value, so it ends).
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from danbao.definitions.conditions import ROW
from danbao.definitions.formlogic import compute_graph, row_schema
from danbao.forms.expressions import ExpressionError, evaluate, holds, round_result

CONDITIONS = ("visible_when", "required_when", "readonly_when")
LOGIC_KEYS = (*CONDITIONS, "compute", "places")
# Decimal places of a computed number when the definition does not say.
MONEY_PLACES = 2
RATIO_PLACES = 4

Target = tuple[str, str | None]  # (field, None) or (repeating field, key of its rows)


@dataclass(frozen=True)
class LogicState:
    """What the conditions say about one set of values (JSON pointers, sorted)."""

    hidden: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    readonly: tuple[str, ...] = ()

    def is_hidden(self, pointer: str) -> bool:
        """True for a hidden field, and for anything inside one (a hidden table's cells)."""
        return any(pointer == p or pointer.startswith(p + "/") for p in self.hidden)

    def as_json(self) -> dict[str, list[str]]:
        return {
            "hidden": list(self.hidden),
            "required": list(self.required),
            "readonly": list(self.readonly),
        }


@dataclass(frozen=True)
class LogicResult:
    values: dict[str, Any]
    state: LogicState


@dataclass(frozen=True)
class FormLogic:
    """The logic of one form, in the JSON shape the browser receives (:attr:`spec`)."""

    spec: dict[str, Any]
    computed: frozenset[Target] = field(default_factory=frozenset)

    @property
    def active(self) -> bool:
        """Whether the form has any condition or computed field at all."""
        cells = [c for r in self.spec["rows"].values() for c in r.values()]
        return bool(self.spec["sections"]) or any(
            set(f) & set(LOGIC_KEYS) for f in [*self.spec["fields"].values(), *cells]
        )

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> FormLogic:
        schema = content.get("schema", {})
        properties: dict[str, Any] = schema.get("properties", {})
        ui = content.get("ui", {})
        ui_fields: dict[str, Any] = ui.get("fields", {})
        section_of: dict[str, str] = {}
        sections: dict[str, str] = {}
        for section in ui.get("layout", []):
            for key in section.get("fields", []):
                section_of.setdefault(key, section.get("id", ""))
            if "visible_when" in section:
                sections[section["id"]] = section["visible_when"]
        fields: dict[str, Any] = {}
        rows: dict[str, Any] = {}
        required = set(schema.get("required", []))
        for name, prop in properties.items():
            settings = ui_fields.get(name, {})
            fields[name] = _describe(prop, settings, name in required)
            if name in section_of:
                fields[name]["section"] = section_of[name]
            items = row_schema(prop)
            if items is not None:
                cells = settings.get("items", {})
                in_row = set(items.get("required", []))
                rows[name] = {
                    key: _describe(sub, cells.get(key, {}), key in in_row)
                    for key, sub in items["properties"].items()
                }
        order, computed = _compute_order(content, fields, rows)
        spec = {"fields": fields, "sections": sections, "rows": rows, "order": order}
        return cls(spec, frozenset(computed))

    # ------------------------------------------------------------ the algorithm

    def run(self, data: dict[str, Any]) -> LogicResult:
        """Computed fields computed, hidden values dropped, and the final state."""
        values = self.without_computed(data)
        while True:
            full = self.compute(values)
            state = self.conditions(full)
            dropped = [p for p in state.hidden if _present(values, p)]
            if not dropped:
                break
            for pointer in dropped:
                _remove(values, pointer)
        for pointer in state.hidden:  # hidden computed fields are not stored either
            _remove(full, pointer)
        return LogicResult(full, state)

    def compute(self, values: dict[str, Any]) -> dict[str, Any]:
        full = _copied(values)
        for name, key in self.spec["order"]:
            if key is None:
                _put(full, name, self._computed(self.spec["fields"][name], self._bind(full)))
                continue
            rows = full.get(name)
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, dict):
                    bound = {**self._bind(full), ROW: self._fill(name, row)}
                    _put(row, key, self._computed(self.spec["rows"][name][key], bound))
        return full

    def conditions(self, full: dict[str, Any]) -> LogicState:
        hidden: list[str] = []
        required: list[str] = []
        readonly: list[str] = []
        bound = self._bind(full)
        shown = {sid: holds(text, bound) for sid, text in self.spec["sections"].items()}
        for name, settings in self.spec["fields"].items():
            pointer = "/" + name
            visible = shown.get(settings.get("section", ""), True)
            if visible and "visible_when" in settings:
                visible = holds(settings["visible_when"], bound)
            if not visible:
                hidden.append(pointer)
                continue
            if "required_when" in settings and holds(settings["required_when"], bound):
                required.append(pointer)
            if "readonly_when" in settings and holds(settings["readonly_when"], bound):
                readonly.append(pointer)
            rows = full.get(name)
            if name not in self.spec["rows"] or not isinstance(rows, list):
                continue
            for index, row in enumerate(rows):
                if not isinstance(row, dict):
                    continue
                row_bound = {**bound, ROW: self._fill(name, row)}
                for key, cell in self.spec["rows"][name].items():
                    at = f"{pointer}/{index}/{key}"
                    if "visible_when" in cell and not holds(cell["visible_when"], row_bound):
                        hidden.append(at)
                    elif "required_when" in cell and holds(cell["required_when"], row_bound):
                        required.append(at)
        return LogicState(tuple(sorted(hidden)), tuple(sorted(required)), tuple(sorted(readonly)))

    # ------------------------------------------------------------ helpers

    def _bind(self, full: dict[str, Any]) -> dict[str, Any]:
        """Every field of the form by name (null when empty); rows with every key."""
        bound: dict[str, Any] = {}
        for name in self.spec["fields"]:
            value = full.get(name)
            if name in self.spec["rows"] and isinstance(value, list):
                value = [self._fill(name, r) if isinstance(r, dict) else r for r in value]
            bound[name] = value
        return bound

    def _fill(self, name: str, row: dict[str, Any]) -> dict[str, Any]:
        return {key: row.get(key) for key in self.spec["rows"][name]}

    def _computed(self, settings: dict[str, Any], bound: dict[str, Any]) -> Any:
        try:
            value = evaluate(settings["compute"], bound)
        except ExpressionError:
            return None
        kind = settings["type"]
        if kind in ("number", "integer"):
            places = 0 if kind == "integer" else settings.get("places", RATIO_PLACES)
            return _json_number(round_result(value, places))
        if kind == "string":
            return value if isinstance(value, str) else None
        if kind == "boolean":
            return value if isinstance(value, bool) else None
        return None

    def without_computed(self, data: dict[str, Any]) -> dict[str, Any]:
        """The caller's values, less anything computed (the caller's are never taken)."""
        values = _copied(data)
        for name, key in self.computed:
            if key is None:
                values.pop(name, None)
                continue
            rows = values.get(name)
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, dict):
                    row.pop(key, None)
        return values


def _type_of(prop: Any) -> str:
    if not isinstance(prop, dict):
        return ""
    declared = prop.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), "")
    return declared if isinstance(declared, str) else ""


def _describe(prop: Any, settings: dict[str, Any], required: bool) -> dict[str, Any]:
    """A field as the algorithm (and the page script) needs it: type, logic, and whether
    the schema requires it anyway (the page marks it required whatever the conditions)."""
    found = {"type": _type_of(prop), **_logic(settings, prop)}
    if required:
        found["required"] = True
    return found


def _logic(settings: dict[str, Any], prop: Any) -> dict[str, Any]:
    found = {key: settings[key] for key in LOGIC_KEYS if key in settings}
    if "compute" in found and "places" not in found and _type_of(prop) == "number":
        # Money is kept to the fen; any other computed number (a ratio) to four places.
        found["places"] = MONEY_PLACES if settings.get("widget") == "money" else RATIO_PLACES
    return found


def _compute_order(
    content: dict[str, Any], fields: dict[str, Any], rows: dict[str, Any]
) -> tuple[list[list[str | None]], list[Target]]:
    """Computed targets, each after the computed values it reads (a cycle, which the
    definition checks refuse, falls back to the order of declaration)."""
    targets: list[Target] = [(n, None) for n, s in fields.items() if "compute" in s]
    targets += [(n, k) for n, cells in rows.items() for k, c in cells.items() if "compute" in c]
    graph = compute_graph(content)
    try:
        ordered = list(
            graphlib.TopologicalSorter({t: graph.get(t, set()) for t in targets}).static_order()
        )
    except graphlib.CycleError:
        ordered = targets
    return [[name, key] for name, key in ordered if (name, key) in set(targets)], targets


def _json_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def _parts(pointer: str) -> list[str]:
    return pointer.lstrip("/").split("/")


def _present(values: dict[str, Any], pointer: str) -> bool:
    parts = _parts(pointer)
    if len(parts) == 1:
        return parts[0] in values
    name, index, key = parts
    rows = values.get(name)
    if not isinstance(rows, list) or int(index) >= len(rows):
        return False
    row = rows[int(index)]
    return isinstance(row, dict) and key in row


def _remove(values: dict[str, Any], pointer: str) -> None:
    parts = _parts(pointer)
    if len(parts) == 1:
        values.pop(parts[0], None)
    elif _present(values, pointer):
        values[parts[0]][int(parts[1])].pop(parts[2], None)


def _copied(value: Any) -> Any:
    """A copy of JSON data (dicts, lists, scalars): what ``copy.deepcopy`` gives for it, at a
    fraction of the cost (no memo; a record is a tree, never a graph)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value
