"""Percentages typed as ``12.5%`` and kept as exact ratios."""

from __future__ import annotations

from decimal import Decimal

import pytest

from danbao.forms import InvalidValue, format_percent, parse_percent


@pytest.mark.parametrize(
    ("text", "ratio"),
    [
        ("12.5%", "0.125"),
        ("12.5", "0.125"),
        (" 12.5 ％ ", "0.125"),
        ("１２．５％", "0.125"),
        ("0%", "0"),
        ("-0%", "0"),
        ("100%", "1"),
        ("150%", "1.5"),
        ("0.015%", "0.00015"),
        ("+3%", "0.03"),
    ],
)
def test_parse_percent(text: str, ratio: str) -> None:
    parsed = parse_percent(text)
    assert parsed == Decimal(ratio)
    assert not parsed.is_signed()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "percent.format"),
        ("%", "percent.format"),
        ("abc", "percent.format"),
        ("12.5%%", "percent.format"),
        ("1e2%", "percent.format"),
        ("1,000%", "percent.format"),
        ("1" * 41, "percent.format"),
        ("NaN%", "percent.not_finite"),
        ("-inf", "percent.not_finite"),
        ("-1%", "percent.negative"),
        (12.5, "percent.type"),
    ],
)
def test_parse_percent_refuses(text: object, code: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_percent(text)  # type: ignore[arg-type]
    assert raised.value.invalid.code == code


def test_negative_percent_when_allowed() -> None:
    assert parse_percent("-2.5%", allow_negative=True) == Decimal("-0.025")


@pytest.mark.parametrize(
    ("ratio", "places", "text"),
    [
        (Decimal("0.125"), 2, "12.50%"),
        (Decimal("0.125"), 0, "13%"),  # half-up
        (Decimal("0.00125"), 2, "0.13%"),  # half-up; half-even would give 0.12%
        (Decimal("1"), 2, "100.00%"),
        (1, 0, "100%"),
        (Decimal("-0.00001"), 2, "0.00%"),  # no "-0.00%"
        (Decimal("-0.025"), 1, "-2.5%"),
    ],
)
def test_format_percent(ratio: Decimal | int, places: int, text: str) -> None:
    assert format_percent(ratio, places) == text


def test_percent_round_trips() -> None:
    for ratio in (Decimal("0"), Decimal("0.0015"), Decimal("0.125"), Decimal("0.3333")):
        assert parse_percent(format_percent(ratio)) == ratio


@pytest.mark.parametrize(
    ("ratio", "code"),
    [(Decimal("NaN"), "percent.not_finite"), (0.125, "percent.type"), (True, "percent.type")],
)
def test_format_percent_refuses(ratio: object, code: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        format_percent(ratio)  # type: ignore[arg-type]
    assert raised.value.invalid.code == code


@pytest.mark.parametrize("places", [-1, 11])
def test_format_percent_places_are_bounded(places: int) -> None:
    with pytest.raises(ValueError, match="places"):
        format_percent(Decimal("0.1"), places)
