"""The declared mapping that moves a record from one form version to another.

A mapping is a list of operations, applied in order to a copy of the record's data:

- ``{"op": "add", "field": f, "default": v}``: ``f`` (a field of the new version) gets ``v``
  where the record has no value for it;
- ``{"op": "rename", "from": a, "to": b}``: the value of ``a`` moves to ``b`` unchanged;
- ``{"op": "convert", "field": a, "conversion": c, "to": b}``: the value of ``a`` is
  converted by ``c`` (``records.conversions``) and stored under ``b`` (``a`` when omitted);
- ``{"op": "remove", "field": a}``: the value of ``a`` is dropped.

It is checked against both versions before any record is read: unknown fields, a field
used twice, a value that would overwrite another, a type change without a conversion, a
conversion that does not fit either side, a default the new version refuses, a field of
the old version the new one lacks and the mapping leaves alone, and a sensitive value
that would land in a field that is not sensitive (stored in clear). Every problem is a
``{pointer, message}`` into the mapping, all reported at once.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping as MappingType
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from danbao.definitions.formschema import field_types
from danbao.records.conversions import CONVERSIONS, NotConvertible
from danbao.records.definition import FormDefinition
from danbao.records.validation import FieldError, pointer_of, validate_data

MAX_OPERATIONS = 200
OPS = ("add", "rename", "convert", "remove")
# The keys each operation takes (required, optional).
_KEYS: MappingType[str, tuple[frozenset[str], frozenset[str]]] = MappingProxyType(
    {
        "add": (frozenset({"field", "default"}), frozenset()),
        "rename": (frozenset({"from", "to"}), frozenset()),
        "convert": (frozenset({"field", "conversion"}), frozenset({"to"})),
        "remove": (frozenset({"field"}), frozenset()),
    }
)

_TEXTS: MappingType[str, tuple[str, str]] = MappingProxyType(
    {
        "not_object": ('映射应为对象 {{"operations": [...]}}', 'expected {{"operations": [...]}}'),
        "not_list": ("operations 应为列表", "operations must be a list"),
        "too_many": ("操作不能超过 {limit} 条", "at most {limit} operations"),
        "op_object": ("每条操作应为对象", "each operation must be an object"),
        "op_unknown": ("未知操作，应为 {limit} 之一", "unknown operation: use one of {limit}"),
        "key_missing": ("缺少 {limit}", "{limit} is missing"),
        "key_unknown": ("{limit} 操作不接受此项", "not a key of a {limit} operation"),
        "key_type": ("应为字段键（字符串）", "must be a field key (a string)"),
        "source_unknown": (
            "字段“{field}”不在版本 {limit} 的表单中",
            "field {field!r} is not in the form at version {limit}",
        ),
        "target_unknown": (
            "字段“{field}”不在版本 {limit} 的表单中",
            "field {field!r} is not in the form at version {limit}",
        ),
        "consumed": (
            "字段“{field}”已被前面的操作移走或删除",
            "field {field!r} was already moved or removed by an earlier operation",
        ),
        "overwrites": (
            "会覆盖仍在使用的字段“{field}”，请先将其改名或删除",
            "would overwrite field {field!r}, which still holds data: rename or remove it first",
        ),
        "same_field": ("改名的目标与原字段相同", "renames the field to itself"),
        "conversion_unknown": (
            "未知的转换，应为 {limit} 之一",
            "unknown conversion: use one of {limit}",
        ),
        "conversion_reads": (
            "转换 {limit} 不适用于字段“{field}”的类型",
            "conversion {limit} does not read the type of field {field!r}",
        ),
        "conversion_gives": (
            "转换 {limit} 的结果不符合字段“{field}”的类型",
            "conversion {limit} does not give the type of field {field!r}",
        ),
        "type_changed": (
            "字段“{field}”的类型已改变（{limit}），请用 convert 操作转换",
            "the type of field {field!r} changed ({limit}): convert it",
        ),
        "left_behind": (
            "字段“{field}”不在版本 {limit} 中：请将其改名、转换或删除",
            "field {field!r} is not in version {limit}: rename, convert or remove it",
        ),
        "unsealed": (
            "敏感字段“{field}”不能迁入非敏感字段“{limit}”（将以明文保存）",
            "sensitive field {field!r} cannot move into {limit!r}, which is not sensitive "
            "(it would be stored in clear)",
        ),
        "default_invalid": (
            "默认值不被新版本接受：{limit}",
            "the new version refuses the default: {limit}",
        ),
        "convert_failed": ("{field}：{limit}", "{field}: {limit}"),
    }
)


def message(key: str, locale: str, field: str = "", limit: object = "") -> str:
    zh, en = _TEXTS[key]
    return (en if locale == "en" else zh).format(field=field, limit=limit)


class MappingInvalid(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} problem(s) with the mapping")
        self.errors = errors


@dataclass(frozen=True)
class Operation:
    op: str
    source: str | None = None
    target: str | None = None
    default: Any = None
    conversion: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.op == "add":
            return {"op": "add", "field": self.target, "default": self.default}
        if self.op == "rename":
            return {"op": "rename", "from": self.source, "to": self.target}
        if self.op == "convert":
            return {
                "op": "convert",
                "field": self.source,
                "conversion": self.conversion,
                "to": self.target,
            }
        return {"op": "remove", "field": self.source}


@dataclass(frozen=True, eq=False)
class Mapping:
    """A checked mapping between two versions of one form."""

    source: FormDefinition
    target: FormDefinition
    operations: tuple[Operation, ...]

    @property
    def sensitive_fields(self) -> frozenset[str]:
        """Fields sensitive on either side: their values never reach the audit trail."""
        return self.source.sensitive_fields | self.target.sensitive_fields

    def apply(self, data: dict[str, Any], locale: str) -> tuple[dict[str, Any], list[FieldError]]:
        """The record's data as the new version holds it, and the values that would not
        convert (by the record's pointer; the value itself is never in the message)."""
        result = copy.deepcopy(data)
        errors: list[FieldError] = []
        for op in self.operations:
            if op.op == "add" and op.target is not None:
                if result.get(op.target) is None:
                    result[op.target] = copy.deepcopy(op.default)
            elif op.op == "remove" and op.source is not None:
                result.pop(op.source, None)
            elif op.source is not None and op.target is not None and op.source in result:
                value = result.pop(op.source)
                if op.op == "convert" and value is not None:
                    try:
                        value = CONVERSIONS[str(op.conversion)].apply(value)
                    except NotConvertible as refused:
                        label = self.source.label(op.source, locale)
                        reason = refused.invalid.message(locale)
                        errors.append(
                            FieldError(
                                pointer_of([op.source]),
                                message("convert_failed", locale, label, reason),
                            )
                        )
                        continue
                result[op.target] = value
        return result, errors


def parse_mapping(
    raw: Any,
    source: FormDefinition,
    target: FormDefinition,
    *,
    versions: tuple[int, int],
    locale: str,
) -> Mapping:
    """The checked mapping, or :class:`MappingInvalid` listing every problem."""
    checker = _Checker(source, target, versions, locale)
    operations = checker.check(raw)
    if checker.errors:
        raise MappingInvalid(sorted(checker.errors, key=lambda e: _order(e.pointer)))
    return Mapping(source, target, tuple(operations))


def _order(pointer: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in pointer.split("/"))


class _Checker:
    def __init__(
        self,
        source: FormDefinition,
        target: FormDefinition,
        versions: tuple[int, int],
        locale: str,
    ) -> None:
        self.source, self.target = source, target
        self.old, self.new = versions
        self.locale = locale
        self.source_types = field_types(source.schema)
        self.target_types = field_types(target.schema)
        self.errors: list[FieldError] = []
        # Field keys that hold data at this point of the walk through the operations,
        # and where each came from (None: carried over unchanged from the old version).
        self.present: dict[str, str | None] = {f: None for f in source.properties}

    def fail(self, pointer: str, key: str, field: str = "", limit: object = "") -> None:
        self.errors.append(FieldError(pointer, message(key, self.locale, field, limit)))

    def check(self, raw: Any) -> list[Operation]:
        if isinstance(raw, dict):
            unknown = set(raw) - {"operations"}
            for key in sorted(unknown):
                self.fail(pointer_of([key]), "key_unknown", limit="mapping")
            raw = raw.get("operations", [])
        elif not isinstance(raw, list):
            self.fail("", "not_object")
            return []
        if not isinstance(raw, list):
            self.fail("/operations", "not_list")
            return []
        if len(raw) > MAX_OPERATIONS:
            self.fail("/operations", "too_many", limit=MAX_OPERATIONS)
            return []
        operations = []
        for index, item in enumerate(raw):
            op = self._operation(f"/operations/{index}", item)
            if op is not None:
                operations.append(op)
        self._carried_over()
        return operations

    def _operation(self, at: str, item: Any) -> Operation | None:
        if not isinstance(item, dict):
            self.fail(at, "op_object")
            return None
        kind = item.get("op")
        if kind not in OPS:
            self.fail(at + "/op", "op_unknown", limit=", ".join(OPS))
            return None
        required, optional = _KEYS[kind]
        well_formed = True
        for key in sorted(required - set(item)):
            self.fail(at, "key_missing", limit=key)
            well_formed = False
        for key in sorted(set(item) - required - optional - {"op"}):
            self.fail(f"{at}/{key}", "key_unknown", limit=kind)
            well_formed = False
        for key in ("field", "from", "to"):
            if key in item and not isinstance(item[key], str):
                self.fail(f"{at}/{key}", "key_type")
                well_formed = False
        if not well_formed:
            return None
        if kind == "add":
            return self._add(at, item["field"], item["default"])
        if kind == "remove":
            return self._remove(at, item["field"])
        if kind == "rename":
            return self._move(at, "from", item["from"], "to", item["to"], None)
        target = str(item.get("to", item["field"]))
        return self._move(at, "field", item["field"], "to", target, item["conversion"])

    def _known_source(self, at: str, field: str) -> bool:
        if field not in self.source.properties:
            self.fail(at, "source_unknown", field, self.old)
            return False
        if field not in self.present or self.present[field] is not None:
            self.fail(at, "consumed", field)
            return False
        return True

    def _known_target(self, at: str, field: str) -> bool:
        if field not in self.target.properties:
            self.fail(at, "target_unknown", field, self.new)
            return False
        return True

    def _add(self, at: str, field: str, default: Any) -> Operation | None:
        if not self._known_target(at + "/field", field):
            return None
        for problem in validate_data(
            self.target, {field: default}, complete=False, locale=self.locale
        ):
            self.fail(at + "/default", "default_invalid", limit=problem.message)
        self.present.setdefault(field, "add")
        return Operation("add", target=field, default=default)

    def _remove(self, at: str, field: str) -> Operation | None:
        if not self._known_source(at + "/field", field):
            return None
        del self.present[field]
        return Operation("remove", source=field)

    def _move(
        self, at: str, from_key: str, field: str, to_key: str, target: str, conversion: Any
    ) -> Operation | None:
        ok = self._known_source(f"{at}/{from_key}", field)
        ok = self._known_target(f"{at}/{to_key}", target) and ok
        if conversion is not None and conversion not in CONVERSIONS:
            self.fail(at + "/conversion", "conversion_unknown", limit=", ".join(CONVERSIONS))
            ok = False
        if not ok:
            return None
        if conversion is None and target == field:
            self.fail(f"{at}/{to_key}", "same_field")
            return None
        if target != field and target in self.present:
            self.fail(f"{at}/{to_key}", "overwrites", target)
            return None
        if field in self.source.sensitive_fields and target not in self.target.sensitive_fields:
            self.fail(f"{at}/{to_key}", "unsealed", field, target)
        old, new = self.source_types.get(field, frozenset()), self.target_types.get(target)
        if conversion is not None:
            rule = CONVERSIONS[conversion]
            if old and not old & rule.reads:
                self.fail(at + "/conversion", "conversion_reads", field, conversion)
            if new and not new & rule.gives:
                self.fail(at + "/conversion", "conversion_gives", target, conversion)
        elif old and new and not old & new:
            self.fail(f"{at}/{to_key}", "type_changed", field, _types_change(old, new))
        del self.present[field]
        self.present[target] = "moved"
        return Operation(
            "convert" if conversion is not None else "rename",
            source=field,
            target=target,
            conversion=conversion,
        )

    def _carried_over(self) -> None:
        """Fields left alone must exist in the new version, with a type and secrecy it keeps."""
        for field, origin in sorted(self.present.items()):
            if origin is not None:
                continue
            if field not in self.target.properties:
                self.fail("/operations", "left_behind", field, self.new)
                continue
            old = self.source_types.get(field, frozenset())
            new = self.target_types.get(field, frozenset())
            if old and new and not old & new:
                self.fail("/operations", "type_changed", field, _types_change(old, new))
            if field in self.source.sensitive_fields and field not in self.target.sensitive_fields:
                self.fail("/operations", "unsealed", field, field)


def _types_change(old: frozenset[str], new: frozenset[str]) -> str:
    return f"{'/'.join(sorted(old))} → {'/'.join(sorted(new))}"


def suggest(source: FormDefinition, target: FormDefinition) -> list[dict[str, Any]]:
    """A starting mapping for the console: remove what the new version dropped, add (with
    the schema's default, else null) what it introduced as required."""
    suggestion: list[dict[str, Any]] = []
    for field in source.field_order:
        if field not in target.properties:
            suggestion.append({"op": "remove", "field": field})
    required = set(target.schema.get("required", []))
    for field in target.field_order:
        if field in source.properties:
            continue
        prop = target.properties[field]
        if "default" in prop or field in required:
            suggestion.append({"op": "add", "field": field, "default": prop.get("default")})
    return suggestion
