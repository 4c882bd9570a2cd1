"""Money: exact yuan as ``Decimal`` with two places (to the 分), parsed and shown.

Amounts never pass through binary floating point: a float is read through its shortest
decimal text, so ``0.1`` is 0.10 but ``0.1 + 0.2`` (0.30000000000000004) is refused.
Display rounding (万元) is half-up, 四舍五入, as Chinese financial statements round.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Context, Decimal

import cn2an

from danbao.forms.invalid import InvalidValue
from danbao.forms.messages import refusal

CENT = Decimal("0.01")
# The largest amount the capitals can spell (the 万亿 group is the highest).
MAX_AMOUNT = Decimal("9999999999999999.99")
# Every amount we accept has at most 16 + 2 digits (from at most 40 characters), so at
# this precision no arithmetic below rounds, whatever the caller did to the global context.
_EXACT = Context(prec=60)
_MAX_TEXT = 40

_AMOUNT = re.compile(
    r"(?P<sign>[-+]?)¥?"
    r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<unit>万元|万|元)?"
)


def parse_amount(value: str | int | Decimal | float, *, allow_negative: bool = False) -> Decimal:
    """Yuan with exactly two places, or :class:`InvalidValue` saying why not.

    Text may carry thousands separators (``1,000,000.00``), a ``¥``, full-width characters,
    spaces, and a unit: ``元``, or ``万``/``万元`` meaning ten thousand yuan (``1.5万`` is
    15,000.00). More than two places in yuan (after scaling 万) is refused, not rounded.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise InvalidValue(refusal("amount.type"))
    if isinstance(value, str):
        amount = _from_text(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    else:
        amount = Decimal(value)
    if not amount.is_finite():
        raise InvalidValue(refusal("amount.not_finite"))
    if amount < 0 and not allow_negative:
        raise InvalidValue(refusal("amount.negative"))
    if abs(amount) > MAX_AMOUNT:
        raise InvalidValue(refusal("amount.too_large"))
    cents = amount.quantize(CENT, context=_EXACT)
    if cents != amount:
        raise InvalidValue(refusal("amount.places"))
    # -0.00 is zero; never show or store a signed zero.
    return cents.copy_abs() if cents.is_zero() else cents


def _from_text(text: str) -> Decimal:
    compact = "".join(unicodedata.normalize("NFKC", text).split())
    if compact.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise InvalidValue(refusal("amount.not_finite"))
    match = _AMOUNT.fullmatch(compact) if len(compact) <= _MAX_TEXT else None
    if match is None:
        raise InvalidValue(refusal("amount.format"))
    digits = match["whole"].replace(",", "") + "." + (match["fraction"] or "0")
    amount = Decimal(match["sign"] + digits)
    return amount.scaleb(4, context=_EXACT) if match["unit"] in ("万", "万元") else amount


def format_yuan(amount: Decimal | int) -> str:
    """``1,000,000.00``: thousands separators, always two places."""
    return f"{parse_amount(amount, allow_negative=True):,.2f}"


def format_wan(amount: Decimal | int, places: int = 2) -> str:
    """``100.00万元`` for 1,000,000; ``places`` (0-6) after rounding half-up."""
    if not 0 <= places <= 6:
        raise ValueError("places must be from 0 to 6 (6 places of 万 is the fen)")
    wan = parse_amount(amount, allow_negative=True).scaleb(-4, context=_EXACT)
    rounded = wan.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_EXACT)
    return f"{rounded:,.{places}f}万元"


def to_chinese_capitals(amount: Decimal | int | str) -> str:
    """The amount in financial capitals, as a contract or a cheque writes it.

    The rules are those of the People's Bank of China's 《正确填写票据和结算凭证的基本规定》
    (issued with 《支付结算办法》, 1997); where they allow a choice, we take the first:

    - ``人民币`` leads, with nothing between it and the amount.
    - 整 follows 元 when there are no 角 or 分, and follows 角 when there is no 分 (the rule
      makes it optional after 角; writing it leaves no room to add a 分). Never after 分.
    - A zero inside the whole yuan is written 零, once for a run of zeros, by the usual
      grouping in 万 and 亿: 1,010,000 is 壹佰零壹万元整, 100,000,001 is 壹亿零壹元整,
      107,000 is 壹拾万柒仟 (the 万 group is followed by a 仟, so no 零 is needed).
    - 零 follows 元 when the 角 is 0 and the 分 is not (required: 16,409.02 is
      …肆佰零玖元零贰分), and when the units digit of the yuan is 0 and the 角 is not
      (optional; we write it: 107,000.53 is 壹拾万柒仟元零伍角叁分).
    - Under one yuan there is no 元: 0.05 is 人民币伍分, 0.50 is 人民币伍角整; zero is
      人民币零元整. A whole-yuan part starting with 1 in the tens is 壹拾, never 拾.

    Negative amounts are refused: a contract states a sum, not a sign.
    """
    cents = parse_amount(amount)
    yuan, fen_total = divmod(int(cents.scaleb(2, context=_EXACT)), 100)
    jiao, fen = divmod(fen_total, 10)
    if yuan == 0 and fen_total == 0:
        return "人民币零元整"
    # cn2an spells the whole yuan (grouping and zeros); its "rmb" mode makes the other
    # choices above (no 整 after 角, no 零 after a round 元), so the 元角分 part is ours.
    words = [_capital(yuan) + "元"] if yuan else []
    if fen_total == 0:
        return "人民币" + "".join(words) + "整"
    if yuan and (jiao == 0 or yuan % 10 == 0):
        words.append("零")
    if jiao:
        words.append(_capital(jiao) + "角")
    words.append(_capital(fen) + "分" if fen else "整")
    return "人民币" + "".join(words)


def _capital(number: int) -> str:
    return str(cn2an.an2cn(str(number), "up"))
