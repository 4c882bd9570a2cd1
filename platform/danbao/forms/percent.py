"""Percentages (rates, ratios, 担保费率) typed as ``12.5%`` and kept as the ratio 0.125.

The ratio is what arithmetic wants (amount × rate); the percent sign is only for people.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Context, Decimal

from danbao.forms.invalid import InvalidValue
from danbao.forms.messages import refusal

# Inputs are at most 40 characters, so at this precision nothing below rounds.
_EXACT = Context(prec=60)
_MAX_TEXT = 40
_PERCENT = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?")


def parse_percent(text: str, *, allow_negative: bool = False) -> Decimal:
    """``"12.5%"`` → ``Decimal("0.125")``, exactly; the sign ``%`` (or ``％``) is optional.

    A number without the sign is still read as percent, as a field labelled "费率（%）"
    means: ``"12.5"`` is 0.125 too.
    """
    if not isinstance(text, str):
        raise InvalidValue(refusal("percent.type"))
    compact = "".join(unicodedata.normalize("NFKC", text).split()).removesuffix("%")
    if compact.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise InvalidValue(refusal("percent.not_finite"))
    if len(compact) > _MAX_TEXT or not _PERCENT.fullmatch(compact):
        raise InvalidValue(refusal("percent.format"))
    ratio = Decimal(compact).scaleb(-2, context=_EXACT)
    if ratio < 0 and not allow_negative:
        raise InvalidValue(refusal("percent.negative"))
    return ratio.copy_abs() if ratio.is_zero() else ratio


def format_percent(ratio: Decimal | int, places: int = 2) -> str:
    """``Decimal("0.125")`` → ``"12.50%"``, rounded half-up (四舍五入) to ``places``."""
    if not 0 <= places <= 10:
        raise ValueError("places must be from 0 to 10")
    if isinstance(ratio, bool) or not isinstance(ratio, Decimal | int):
        raise InvalidValue(refusal("percent.type"))
    value = Decimal(ratio)
    if not value.is_finite():
        raise InvalidValue(refusal("percent.not_finite"))
    points = value.scaleb(2, context=_EXACT)
    rounded = points.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_EXACT)
    return f"{rounded.copy_abs() if rounded.is_zero() else rounded:.{places}f}%"
