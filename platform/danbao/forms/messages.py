"""The zh-CN and English text of every refusal a form field can give, by code.

Kept in one table so a translator reads them side by side and a code cannot be used
with no text: :func:`refusal` raises ``KeyError`` for an unknown one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from danbao.forms.invalid import Invalid

_TEXTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        # identifiers.py
        "resident_id.length": ("身份证号码应为18位", "the ID number must be 18 characters long"),
        "resident_id.format": (
            "身份证号码应为17位数字加1位数字或X",
            "the ID number must be 17 digits followed by a digit or X",
        ),
        "resident_id.checksum": (
            "身份证号码校验位不正确",
            "the check digit of the ID number is wrong",
        ),
        "resident_id.birth_date": (
            "身份证号码中的出生日期无效",
            "the birth date in the ID number is not a valid date",
        ),
        "resident_id.birth_date_future": (
            "身份证号码中的出生日期晚于今天",
            "the birth date in the ID number is in the future",
        ),
        "uscc.length": (
            "统一社会信用代码应为18位",
            "the unified social credit code must be 18 characters long",
        ),
        "uscc.format": (
            "统一社会信用代码含有不允许的字符：第3至8位应为数字，"
            "其余为数字或大写字母（不含I、O、S、V、Z）",
            "the unified social credit code has characters that are not allowed: characters 3"
            " to 8 are digits, the others digits or capital letters other than I, O, S, V, Z",
        ),
        "uscc.checksum": (
            "统一社会信用代码校验位不正确",
            "the check character of the unified social credit code is wrong",
        ),
        "bank_card.format": (
            "银行卡号只能包含数字",
            "the bank card number may contain only digits",
        ),
        "bank_card.length": (
            "银行卡号应为12至19位数字",
            "the bank card number must have 12 to 19 digits",
        ),
        "bank_card.checksum": (
            "银行卡号校验位不正确，请核对卡号",
            "the check digit of the bank card number is wrong; please check the number",
        ),
        "mobile.format": (
            "手机号码格式不正确",
            "the mobile number is not in a recognisable format",
        ),
        "mobile.region": (
            "请填写中国大陆手机号码",
            "the mobile number must be a mainland Chinese number",
        ),
        "mobile.invalid": (
            "手机号码无效，请核对号段和位数",
            "no such mobile number; please check its prefix and number of digits",
        ),
        "mobile.not_mobile": (
            "这是固定电话号码，请填写手机号码",
            "this is a landline number; a mobile number is required",
        ),
        # money.py
        "amount.type": ("金额应为数字", "the amount must be a number"),
        "amount.format": (
            "金额格式不正确，可填写如 1,000,000.00、100万 或 100万元",
            "the amount is not in a recognised format; write e.g. 1,000,000.00, 100万 or 100万元",
        ),
        "amount.not_finite": ("金额必须是有限的数字", "the amount must be a finite number"),
        "amount.places": (
            "金额最多精确到分（两位小数）",
            "the amount may have at most two decimal places (to the fen)",
        ),
        "amount.negative": ("金额不能为负数", "the amount must not be negative"),
        "amount.too_large": (
            "金额不能超过9,999,999,999,999,999.99元",
            "the amount must not exceed 9,999,999,999,999,999.99 yuan",
        ),
        # percent.py
        "percent.type": ("百分比应为数字", "the percentage must be a number"),
        "percent.format": (
            "百分比格式不正确，可填写如 12.5%",
            "the percentage is not in a recognised format; write e.g. 12.5%",
        ),
        "percent.not_finite": ("百分比必须是有限的数字", "the percentage must be a finite number"),
        "percent.negative": ("百分比不能为负数", "the percentage must not be negative"),
    }
)


def refusal(code: str) -> Invalid:
    zh, en = _TEXTS[code]
    return Invalid(code, zh, en)


def codes() -> frozenset[str]:
    """Every known code, for tests that each has both texts."""
    return frozenset(_TEXTS)
