"""Money: exact parsing, display with separators and in 万元, and Chinese capitals."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from danbao.forms import InvalidValue, format_wan, format_yuan, parse_amount, to_chinese_capitals


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,000,000.00", "1000000.00"),
        ("1000000", "1000000.00"),
        ("100万", "1000000.00"),
        ("100万元", "1000000.00"),
        ("1.5万", "15000.00"),
        ("1.234567万", "12345.67"),
        ("0.0001万", "1.00"),
        ("¥1,234.5", "1234.50"),
        ("￥１，２３４．５", "1234.50"),  # full-width, as Chinese input methods type it
        (" 1 234.50 元 ", "1234.50"),
        ("+12", "12.00"),
        ("0", "0.00"),
        ("-0", "0.00"),
        (1000000, "1000000.00"),
        (Decimal("12.3"), "12.30"),
        (Decimal("12.300"), "12.30"),  # trailing zeros are not places
        (0.1, "0.10"),
        (1234.56, "1234.56"),
        ("9,999,999,999,999,999.99", "9999999999999999.99"),
    ],
)
def test_parse_amount_accepts(value: str | int | Decimal | float, expected: str) -> None:
    amount = parse_amount(value)
    assert amount == Decimal(expected)
    assert str(amount) == expected  # always two places, never a signed zero


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0.1 + 0.2, "amount.places"),  # binary noise: 0.30000000000000004
        ("1.005", "amount.places"),
        (Decimal("0.001"), "amount.places"),
        ("1.2345678万", "amount.places"),
        ("-1", "amount.negative"),
        (-5, "amount.negative"),
        ("-1万", "amount.negative"),
        (float("nan"), "amount.not_finite"),
        (float("inf"), "amount.not_finite"),
        (Decimal("NaN"), "amount.not_finite"),
        (Decimal("sNaN"), "amount.not_finite"),
        (Decimal("-Infinity"), "amount.not_finite"),
        ("NaN", "amount.not_finite"),
        ("inf", "amount.not_finite"),
        ("", "amount.format"),
        ("abc", "amount.format"),
        ("1e5", "amount.format"),
        ("1,00", "amount.format"),
        ("1,0000", "amount.format"),
        (",100", "amount.format"),
        (".5", "amount.format"),
        ("1.", "amount.format"),
        ("100万万", "amount.format"),
        ("1" * 41, "amount.format"),
        ("10,000,000,000,000,000", "amount.too_large"),
        ("1000000000000万", "amount.too_large"),
        (Decimal("1E+100"), "amount.too_large"),
        (True, "amount.type"),
        (None, "amount.type"),
        ([1], "amount.type"),
    ],
)
def test_parse_amount_refuses(value: object, code: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_amount(value)  # type: ignore[arg-type]
    assert raised.value.invalid.code == code


def test_parse_amount_refusal_is_a_value_error_in_both_languages() -> None:
    with pytest.raises(ValueError, match="金额最多精确到分") as raised:
        parse_amount("1.005")
    assert "at most two decimal places" in str(raised.value)


def test_negative_amounts_when_allowed() -> None:
    assert parse_amount("-1,000.5", allow_negative=True) == Decimal("-1000.50")
    assert format_yuan(Decimal("-1000.5")) == "-1,000.50"


def test_parse_amount_is_exact_under_a_narrow_global_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 4
        assert parse_amount("123,456,789.12") == Decimal("123456789.12")
        assert parse_amount("1.234567万") == Decimal("12345.67")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0"), "0.00"),
        (Decimal("0.05"), "0.05"),
        (Decimal("999.9"), "999.90"),
        (Decimal("1000"), "1,000.00"),
        (1000000, "1,000,000.00"),
        (Decimal("1234567.89"), "1,234,567.89"),
        (Decimal("9999999999999999.99"), "9,999,999,999,999,999.99"),
    ],
)
def test_format_yuan_and_back(amount: Decimal | int, text: str) -> None:
    assert format_yuan(amount) == text
    assert parse_amount(text) == amount


def test_format_yuan_refuses_fractions_of_a_fen() -> None:
    with pytest.raises(InvalidValue):
        format_yuan(Decimal("1.005"))


@pytest.mark.parametrize(
    ("amount", "places", "text"),
    [
        (Decimal("1000000"), 2, "100.00万元"),
        (Decimal("12345"), 0, "1万元"),
        (Decimal("15000"), 0, "2万元"),
        (Decimal("25000"), 0, "3万元"),  # half-up: half-even would give 2
        (Decimal("12345.67"), 6, "1.234567万元"),
        (Decimal("12345.67"), 4, "1.2346万元"),
        (Decimal("1234567890"), 2, "123,456.79万元"),
        (Decimal("0.01"), 2, "0.00万元"),
    ],
)
def test_format_wan(amount: Decimal, places: int, text: str) -> None:
    assert format_wan(amount, places) == text


def test_format_wan_round_trips_at_six_places() -> None:
    for amount in (Decimal("0.01"), Decimal("12345.67"), Decimal("9876543210.98")):
        assert parse_amount(format_wan(amount, 6).replace(",", "")) == amount


@pytest.mark.parametrize("places", [-1, 7])
def test_format_wan_places_are_bounded(places: int) -> None:
    with pytest.raises(ValueError, match="places"):
        format_wan(Decimal(1), places)


# Each checked by hand against the PBoC rules in the docstring of to_chinese_capitals.
CAPITALS = [
    ("0", "人民币零元整"),
    ("0.01", "人民币壹分"),
    ("0.05", "人民币伍分"),
    ("0.10", "人民币壹角整"),
    ("0.50", "人民币伍角整"),
    ("0.55", "人民币伍角伍分"),
    ("1", "人民币壹元整"),
    ("1.05", "人民币壹元零伍分"),
    ("1.50", "人民币壹元伍角整"),
    ("10", "人民币壹拾元整"),
    ("10.05", "人民币壹拾元零伍分"),
    ("10.50", "人民币壹拾元零伍角整"),
    ("15.80", "人民币壹拾伍元捌角整"),
    ("101", "人民币壹佰零壹元整"),
    ("110", "人民币壹佰壹拾元整"),
    ("325.04", "人民币叁佰贰拾伍元零肆分"),
    ("1,409.50", "人民币壹仟肆佰零玖元伍角整"),
    ("1,680.32", "人民币壹仟陆佰捌拾元零叁角贰分"),
    ("6,007.14", "人民币陆仟零柒元壹角肆分"),
    ("10,000", "人民币壹万元整"),
    ("10,001", "人民币壹万零壹元整"),
    ("16,409.02", "人民币壹万陆仟肆佰零玖元零贰分"),
    ("100,010", "人民币壹拾万零壹拾元整"),
    ("107,000.53", "人民币壹拾万柒仟元零伍角叁分"),
    ("200,000.08", "人民币贰拾万元零捌分"),
    ("1,000,000", "人民币壹佰万元整"),
    ("1,010,000", "人民币壹佰零壹万元整"),
    ("12,345,678.90", "人民币壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角整"),
    ("20,000,300", "人民币贰仟万零叁佰元整"),
    ("50,000,000", "人民币伍仟万元整"),
    ("100,000,000", "人民币壹亿元整"),
    ("100,000,001", "人民币壹亿零壹元整"),
    ("100,010,000", "人民币壹亿零壹万元整"),
    ("305,000,000", "人民币叁亿零伍佰万元整"),
    ("1,000,010,000", "人民币壹拾亿零壹万元整"),
    ("100,000,000,000", "人民币壹仟亿元整"),
    ("1,000,000,000,000", "人民币壹万亿元整"),
    ("1,000,000,000,001", "人民币壹万亿零壹元整"),
    (
        "9,999,999,999,999,999.99",
        "人民币玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分",
    ),
    ("100万", "人民币壹佰万元整"),
]


@pytest.mark.parametrize(("amount", "capitals"), CAPITALS)
def test_chinese_capitals(amount: str, capitals: str) -> None:
    assert to_chinese_capitals(amount) == capitals


def test_chinese_capitals_take_decimals_and_ints() -> None:
    assert to_chinese_capitals(Decimal("1409.5")) == "人民币壹仟肆佰零玖元伍角整"
    assert to_chinese_capitals(1000000) == "人民币壹佰万元整"


@pytest.mark.parametrize(
    ("amount", "code"),
    [("-1", "amount.negative"), ("10,000,000,000,000,000", "amount.too_large")],
)
def test_chinese_capitals_refuse(amount: str, code: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        to_chinese_capitals(amount)
    assert raised.value.invalid.code == code
