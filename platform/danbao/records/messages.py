"""zh-CN and English text for a refused record field, by JSON Schema keyword.

jsonschema's own messages quote the offending value; a resident ID number must never be
reflected back (nor logged), so every message here is built from the field's label and
the schema's limits only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# keyword -> (zh-CN, en); {label} is the field's label, {limit} the schema's value.
_TEXTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "required": ("{label}为必填项", "{label} is required"),
        "type": ("{label}应为{limit}", "{label} must be {limit}"),
        "minimum": ("{label}不能小于{limit}", "{label} must be at least {limit}"),
        "maximum": ("{label}不能大于{limit}", "{label} must be at most {limit}"),
        "exclusiveMinimum": ("{label}必须大于{limit}", "{label} must be greater than {limit}"),
        "exclusiveMaximum": ("{label}必须小于{limit}", "{label} must be less than {limit}"),
        "multipleOf": ("{label}必须是{limit}的整数倍", "{label} must be a multiple of {limit}"),
        "minLength": ("{label}至少{limit}个字符", "{label} must have at least {limit} characters"),
        "maxLength": ("{label}最多{limit}个字符", "{label} must have at most {limit} characters"),
        "minItems": ("{label}至少{limit}项", "{label} must have at least {limit} items"),
        "maxItems": ("{label}最多{limit}项", "{label} must have at most {limit} items"),
        "uniqueItems": ("{label}不能有重复项", "{label} must not repeat items"),
        "enum": ("{label}不是允许的选项", "{label} is not one of the allowed options"),
        "const": ("{label}不是允许的选项", "{label} is not one of the allowed options"),
        "oneOf": ("{label}不是允许的选项", "{label} is not one of the allowed options"),
        "anyOf": ("{label}不是允许的选项", "{label} is not one of the allowed options"),
        "pattern": ("{label}格式不正确", "{label} is not in the expected format"),
        "format": ("{label}格式不正确", "{label} is not in the expected format"),
        "unknown": ("{label}不是此表单的字段", "{label} is not a field of this form"),
        "not_writable": ("您无权修改{label}", "you may not change {label}"),
        "invalid": ("{label}的值无效", "{label} is not valid"),
        "x-dictionary": ("{label}不是字典中的有效选项", "{label} is not an option of its list"),
        "x-picker": ("{label}不是本机构的有效选项", "{label} is not one of this company's"),
        "x-kind": ("{label}的结束日期不能早于开始日期", "{label}: the end is before the start"),
        "user": ("{label}不是本机构的用户", "{label} is not a user of this company"),
    }
)

_TYPES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "string": ("文本", "text"),
        "number": ("数字", "a number"),
        "integer": ("整数", "a whole number"),
        "boolean": ("是或否", "true or false"),
        "object": ("对象", "an object"),
        "array": ("列表", "a list"),
        "null": ("空值", "empty"),
    }
)


def field_message(keyword: str, locale: str, label: str, limit: object = "") -> str:
    """The message for ``keyword`` (``invalid`` when we have none) in ``locale``."""
    zh, en = _TEXTS.get(keyword, _TEXTS["invalid"])
    english = locale == "en"
    if keyword == "type":
        names = limit if isinstance(limit, list) else [limit]
        limit = (" / " if english else "或").join(
            _TYPES.get(str(n), (str(n), str(n)))[1 if english else 0] for n in names
        )
    return (en if english else zh).format(label=label, limit=limit)
