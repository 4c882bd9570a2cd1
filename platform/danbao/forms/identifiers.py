"""Chinese identifiers in form fields, by the ``format`` names a form's JSON Schema uses.

=================== ================================================ ==================
format              what                                             checked with
=================== ================================================ ==================
``cn-resident-id``  18-digit 居民身份证号码 (also 港澳台居民居住证)      python-stdnum
``cn-uscc``         18-character 统一社会信用代码 (GB 32100-2015)      python-stdnum
``bank-card``       a bank card number, 12 to 19 digits              python-stdnum (Luhn)
``cn-mobile``       a mainland Chinese mobile number                 phonenumbers
=================== ================================================ ==================

Each ``check_*`` returns ``None`` or an :class:`Invalid` with the reason in both
languages. They normalise first (:func:`normalise`), so what a person types — spaces,
full-width digits, a lower-case x — is judged by what it means; store the normalised form.

Where python-stdnum is stricter than reality we use its parts and not its ``validate``:
- ``stdnum.cn.ric.validate`` also requires the address code to have existed in the birth
  year, but the code is that of the household registration when the card was issued, so
  it rejects, for instance, every 浦东新区 resident born before 1992 and codes retired
  since (python-stdnum issue #442). We check length, digits, check digit and birth date.
- ``stdnum.cn.uscc.validate`` requires the first eight characters to be digits, but the
  registering authority (first character) may be ``A``, ``N`` (e.g. 农村集体经济组织,
  which agricultural guarantors serve) or ``Y``. We require digits only for the division
  code (characters 3-8) and keep stdnum's alphabet and check character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Literal

import phonenumbers
from jsonschema import Draft202012Validator, FormatChecker
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidComponent

from danbao.forms.invalid import Invalid, InvalidValue
from danbao.forms.messages import refusal

RESIDENT_ID = "cn-resident-id"
USCC = "cn-uscc"
BANK_CARD = "bank-card"
MOBILE = "cn-mobile"

# China has kept UTC+8 all year since 1991; a fixed offset needs no time-zone database,
# which slim container images lack. Birth dates in ID numbers are Chinese calendar days.
CHINA_TIME = timezone(timedelta(hours=8), "CST")
# No one alive was born earlier; an older date in an ID number is a typing error.
_EARLIEST_BIRTH = date(1900, 1, 1)

_RESIDENT_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_USCC_CHAR = "[0-9A-HJ-NPQRTUWXY]"  # GB 32100: digits and capitals except I, O, S, V, Z
_USCC_SHAPE = re.compile(f"{_USCC_CHAR}{{2}}[0-9]{{6}}{_USCC_CHAR}{{10}}")
_DIGITS = re.compile(r"[0-9]+")


def today_in_china() -> date:
    return datetime.now(CHINA_TIME).date()


def normalise(format_name: str, value: str) -> str:
    """The canonical text of ``value`` for ``format_name``; never raises.

    Full-width characters become ASCII (NFKC) and white space goes; ID numbers and credit
    codes are upper-cased; a Chinese mobile number becomes its 11 digits (no ``+86``), so
    equal numbers store, hash and search equal. Other formats pass through unchanged, so
    the form runtime may call this for every formatted field.
    """
    if format_name not in _CHECKS:
        return value
    text = "".join(unicodedata.normalize("NFKC", value).split())
    if format_name in (RESIDENT_ID, USCC):
        return text.upper()
    if format_name == MOBILE:
        number = _parse_mobile(text)
        if number is not None and phonenumbers.region_code_for_number(number) == "CN":
            return str(number.national_number)
    return text


def check_resident_id(value: str, *, today: date | None = None) -> Invalid | None:
    """``today`` defaults to the current day in China; a birth date after it is refused."""
    number = normalise(RESIDENT_ID, value)
    if len(number) != 18:
        return refusal("resident_id.length")
    if not _RESIDENT_ID_SHAPE.fullmatch(number):
        return refusal("resident_id.format")
    if number[-1] != ric.calc_check_digit(number):
        return refusal("resident_id.checksum")
    try:
        born = ric.get_birth_date(number)
    except InvalidComponent:
        return refusal("resident_id.birth_date")
    if born < _EARLIEST_BIRTH:
        return refusal("resident_id.birth_date")
    if born > (today if today is not None else today_in_china()):
        return refusal("resident_id.birth_date_future")
    return None


def check_uscc(value: str) -> Invalid | None:
    code = normalise(USCC, value)
    if len(code) != 18:
        return refusal("uscc.length")
    if not _USCC_SHAPE.fullmatch(code):
        return refusal("uscc.format")
    if code[-1] != uscc.calc_check_digit(code):
        return refusal("uscc.checksum")
    return None


def check_bank_card(value: str) -> Invalid | None:
    """A card (借记卡/信用卡) number; 对公账户 numbers carry no Luhn digit and fail here."""
    number = normalise(BANK_CARD, value)
    if not _DIGITS.fullmatch(number):
        return refusal("bank_card.format")
    if not 12 <= len(number) <= 19:
        return refusal("bank_card.length")
    if not luhn.is_valid(number):
        return refusal("bank_card.checksum")
    return None


def check_mobile(value: str) -> Invalid | None:
    number = _parse_mobile("".join(unicodedata.normalize("NFKC", value).split()))
    if number is None:
        return refusal("mobile.format")
    if phonenumbers.region_code_for_number(number) != "CN":
        return refusal("mobile.region")
    if not phonenumbers.is_valid_number(number):
        return refusal("mobile.invalid")
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        return refusal("mobile.not_mobile")
    return None


def check(format_name: str, value: str) -> Invalid | None:
    """Dispatch on the format name; a format this module does not define always passes."""
    checker = _CHECKS.get(format_name)
    return None if checker is None else checker(value)


def _parse_mobile(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None


_CHECKS: Mapping[str, Callable[[str], Invalid | None]] = MappingProxyType(
    {
        RESIDENT_ID: check_resident_id,
        USCC: check_uscc,
        BANK_CARD: check_bank_card,
        MOBILE: check_mobile,
    }
)


def _raising(checker: Callable[[str], Invalid | None]) -> Callable[[object], bool]:
    def conforms(instance: object) -> bool:
        # A format constrains strings only; whether the value is a string is "type"'s job.
        if not isinstance(instance, str):
            return True
        invalid = checker(instance)
        if invalid is not None:
            raise InvalidValue(invalid)
        return True

    return conforms


FORMAT_CHECKERS: Mapping[str, Callable[[object], bool]] = MappingProxyType(
    {name: _raising(checker) for name, checker in _CHECKS.items()}
)
"""Format name → callable in jsonschema's checker protocol: ``True``, or raises
:class:`InvalidValue` (register it with ``raises=InvalidValue``)."""


def format_checker() -> FormatChecker:
    """Draft 2020-12's standard formats (``date``, ``email`` …) plus ours.

    A refusal becomes a ``jsonschema.ValidationError`` whose ``cause`` is the
    :class:`InvalidValue`, so the form can show ``cause.invalid`` in the user's language.
    """
    checker = FormatChecker(formats=())
    checker.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)
    for name, conforms in FORMAT_CHECKERS.items():
        checker.checks(name, raises=InvalidValue)(conforms)
    return checker


@dataclass(frozen=True)
class IdFacts:
    """What a resident ID number says about its holder, for conditions (e.g. age ≥ 18)."""

    birth_date: date
    age: int
    sex: Literal["male", "female"]
    region_code: str


def id_facts(id_number: str, on: date) -> IdFacts:
    """Facts as of ``on``; raises :class:`InvalidValue` for an invalid number.

    ``age`` is whole years (周岁), one more from the birthday itself; someone born on
    29 February gains the year on 1 March in common years. ``sex`` is from the 17th digit
    (odd: male); ``region_code`` is the first six digits, the address code at issue.
    """
    invalid = check_resident_id(id_number, today=on)
    if invalid is not None:
        raise InvalidValue(invalid)
    number = normalise(RESIDENT_ID, id_number)
    born = ric.get_birth_date(number)
    before_birthday = (on.month, on.day) < (born.month, born.day)
    return IdFacts(
        birth_date=born,
        age=on.year - born.year - before_birthday,
        sex="male" if int(number[16]) % 2 else "female",
        region_code=number[:6],
    )
