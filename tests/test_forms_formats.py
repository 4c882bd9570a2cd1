"""Chinese identifier formats: checks, messages, normalising, facts, jsonschema wiring.

Valid numbers are made here with python-stdnum's own check-digit functions, never copied
from real people.
"""

from __future__ import annotations

from datetime import date

import pytest
from jsonschema import Draft202012Validator
from stdnum import luhn
from stdnum.cn import ric, uscc

from danbao.forms import (
    FORMAT_CHECKERS,
    IdFacts,
    Invalid,
    InvalidValue,
    check,
    format_checker,
    id_facts,
    normalise,
)
from danbao.forms.identifiers import (
    check_bank_card,
    check_mobile,
    check_resident_id,
    check_uscc,
)
from danbao.forms.messages import codes, refusal

TODAY = date(2026, 6, 15)


def resident_id(region: str = "110101", born: str = "19900307", order: str = "123") -> str:
    body = region + born + order
    return body + ric.calc_check_digit(body + "0")


def with_wrong_check_digit(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


def credit_code(body: str = "91110108MA01ABCD0") -> str:
    return body + uscc.calc_check_digit(body)


def bank_card(body: str = "622202100012345678") -> str:
    return body + luhn.calc_check_digit(body)


def code_of(invalid: Invalid | None) -> str | None:
    return None if invalid is None else invalid.code


# --- 居民身份证 ---------------------------------------------------------------------


def test_resident_id_with_right_check_digit_passes() -> None:
    assert check_resident_id(resident_id(), today=TODAY) is None


def test_resident_id_check_digit_x_in_either_case() -> None:
    # Find an order code whose check digit is X, so the X path is really exercised.
    number = next(n for n in (resident_id(order=f"{i:03}") for i in range(1000)) if n.endswith("X"))
    assert check_resident_id(number, today=TODAY) is None
    assert check_resident_id(number.lower(), today=TODAY) is None


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (resident_id()[:-1], "resident_id.length"),
        (resident_id() + "1", "resident_id.length"),
        ("110101900307123", "resident_id.length"),  # the old 15-digit number
        ("", "resident_id.length"),
        (resident_id()[:10] + "A" + resident_id()[11:], "resident_id.format"),
        (resident_id()[:-1] + "Y", "resident_id.format"),
        (with_wrong_check_digit(resident_id()), "resident_id.checksum"),
        (resident_id(born="19900230"), "resident_id.birth_date"),
        (resident_id(born="19901301"), "resident_id.birth_date"),
        (resident_id(born="18991231"), "resident_id.birth_date"),
        (resident_id(born="20260616"), "resident_id.birth_date_future"),
    ],
)
def test_resident_id_refusals_name_the_reason(value: str, code: str) -> None:
    assert code_of(check_resident_id(value, today=TODAY)) == code


def test_resident_id_born_today_passes() -> None:
    assert check_resident_id(resident_id(born="20260615"), today=TODAY) is None


def test_resident_id_checksum_message_in_both_languages() -> None:
    invalid = check_resident_id(with_wrong_check_digit(resident_id()), today=TODAY)
    assert invalid == Invalid(
        "resident_id.checksum",
        "身份证号码校验位不正确",
        "the check digit of the ID number is wrong",
    )
    assert invalid.message("zh-CN") == "身份证号码校验位不正确"
    assert invalid.message("en") == "the check digit of the ID number is wrong"


def test_resident_id_address_code_newer_than_the_holder_is_accepted() -> None:
    # 浦东新区 (310115) dates from 1992; people born before then hold numbers with it.
    # stdnum's full validate refuses them (its issue #442); we must not.
    number = resident_id(region="310115", born="19600101")
    assert not ric.is_valid(number)
    assert check_resident_id(number, today=TODAY) is None


def test_resident_id_default_today_is_now() -> None:
    assert code_of(check_resident_id(resident_id(born="29991231"))) == (
        "resident_id.birth_date_future"
    )


# --- 统一社会信用代码 ----------------------------------------------------------------


def test_uscc_valid_code_passes_in_any_case() -> None:
    code = credit_code()
    assert check_uscc(code) is None
    assert check_uscc(code.lower()) is None
    assert check_uscc(f" {code[:9]} {code[9:]} ") is None


def test_uscc_letter_authority_code_is_accepted() -> None:
    # N = 农业农村部门 (农村集体经济组织); stdnum's validate wants digits there.
    code = credit_code("N2110108MA01ABCD0")
    assert not uscc.is_valid(code)
    assert check_uscc(code) is None


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (credit_code()[:-1], "uscc.length"),
        (credit_code() + "0", "uscc.length"),
        ("91110108MA01ABCDI" + "0", "uscc.format"),  # I is not in the alphabet
        ("9111A108MA01ABCD0" + "0", "uscc.format"),  # the division code is digits
        ("91110108MA01ABC!0" + "0", "uscc.format"),
        (with_wrong_check_digit(credit_code()), "uscc.checksum"),
    ],
)
def test_uscc_refusals_name_the_reason(value: str, code: str) -> None:
    assert code_of(check_uscc(value)) == code


def test_uscc_messages_in_both_languages() -> None:
    invalid = check_uscc(with_wrong_check_digit(credit_code()))
    assert invalid is not None
    assert invalid.zh == "统一社会信用代码校验位不正确"
    assert invalid.en == "the check character of the unified social credit code is wrong"


# --- 银行卡 -------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["62220210001", "622202100012345", "622202100012345678"])
def test_bank_card_passing_luhn_passes(body: str) -> None:
    assert check_bank_card(bank_card(body)) is None


def test_bank_card_with_spaces_is_normalised() -> None:
    card = bank_card()
    spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    assert check_bank_card(spaced) is None
    assert normalise("bank-card", spaced) == card


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (bank_card("6222021000"), "bank_card.length"),  # 11 digits
        (bank_card("6222021000123456789"), "bank_card.length"),  # 20 digits
        ("6222-0210-0012-3456", "bank_card.format"),
        ("", "bank_card.format"),
        (with_wrong_check_digit(bank_card()), "bank_card.checksum"),
    ],
)
def test_bank_card_refusals_name_the_reason(value: str, code: str) -> None:
    assert code_of(check_bank_card(value)) == code


def test_bank_card_messages_in_both_languages() -> None:
    invalid = check_bank_card(with_wrong_check_digit(bank_card()))
    assert invalid is not None
    assert invalid.zh == "银行卡号校验位不正确，请核对卡号"
    assert invalid.en.startswith("the check digit of the bank card number is wrong")


# --- 手机号码 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13912345678",
        "139 1234 5678",
        "139-1234-5678",
        "+86 139 1234 5678",
        "１３９１２３４５６７８",
    ],
)
def test_mobile_accepts_mainland_mobiles_as_typed(value: str) -> None:
    assert check_mobile(value) is None
    assert normalise("cn-mobile", value) == "13912345678"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("not a number", "mobile.format"),
        ("", "mobile.format"),
        ("+1 650 253 0000", "mobile.region"),
        ("+852 5123 4567", "mobile.region"),  # Hong Kong is its own numbering plan
        ("1391234567", "mobile.invalid"),  # ten digits
        ("12345678901", "mobile.invalid"),  # no such prefix
        ("010 6512 3456", "mobile.not_mobile"),
    ],
)
def test_mobile_refusals_name_the_reason(value: str, code: str) -> None:
    assert code_of(check_mobile(value)) == code


def test_mobile_landline_message_in_both_languages() -> None:
    invalid = check_mobile("010 6512 3456")
    assert invalid is not None
    assert invalid.zh == "这是固定电话号码，请填写手机号码"
    assert invalid.en == "this is a landline number; a mobile number is required"


# --- normalise, check, messages -----------------------------------------------------


def test_normalise_strips_spaces_and_upper_cases_x() -> None:
    number = resident_id()
    spaced = f" {number[:6]} {number[6:14]}\u3000{number[14:-1]}x"
    assert normalise("cn-resident-id", spaced) == number[:-1] + "X"
    assert normalise("cn-resident-id", "１１０１０１") == "110101"  # full-width digits
    assert normalise("cn-uscc", " 91110108ma01abcd0x ") == "91110108MA01ABCD0X"


def test_normalise_leaves_other_formats_and_bad_mobiles_alone() -> None:
    assert normalise("date", " 2026-01-01 ") == " 2026-01-01 "
    assert normalise("cn-mobile", "+1 650 253 0000") == "+16502530000"
    assert normalise("cn-mobile", "abc") == "abc"


def test_check_dispatches_on_format_name() -> None:
    assert check("cn-resident-id", resident_id()) is None
    assert code_of(check("cn-uscc", "x")) == "uscc.length"
    assert code_of(check("bank-card", "x")) == "bank_card.format"
    assert code_of(check("cn-mobile", "x")) == "mobile.format"
    assert check("email", "not checked here") is None


def test_every_message_has_chinese_and_english_text() -> None:
    for code in codes():
        invalid = refusal(code)
        assert any("\u4e00" <= char <= "\u9fff" for char in invalid.zh), code
        # English text may quote what a Chinese user types (100万), but is English.
        assert invalid.en[:1].islower() and invalid.en.split()[0].isascii(), code


def test_invalid_value_is_a_value_error_with_both_texts() -> None:
    error = InvalidValue(refusal("uscc.checksum"))
    assert isinstance(error, ValueError)
    assert "统一社会信用代码校验位不正确" in str(error)
    assert "unified social credit code" in str(error)


# --- facts for conditions -----------------------------------------------------------


def test_id_facts_on_the_day_before_and_on_the_birthday() -> None:
    number = resident_id(region="440305", born="20080615", order="123")
    day_before = id_facts(number, on=date(2026, 6, 14))
    on_birthday = id_facts(number, on=date(2026, 6, 15))
    assert day_before == IdFacts(
        birth_date=date(2008, 6, 15), age=17, sex="male", region_code="440305"
    )
    assert on_birthday.age == 18


def test_id_facts_sex_from_the_seventeenth_digit() -> None:
    assert id_facts(resident_id(order="124"), on=TODAY).sex == "female"
    assert id_facts(resident_id(order="120"), on=TODAY).sex == "female"
    assert id_facts(resident_id(order="129"), on=TODAY).sex == "male"


def test_id_facts_leap_day_birthday_counts_from_first_of_march() -> None:
    number = resident_id(born="20000229")
    assert id_facts(number, on=date(2018, 2, 28)).age == 17
    assert id_facts(number, on=date(2018, 3, 1)).age == 18
    assert id_facts(number, on=date(2020, 2, 29)).age == 20


def test_id_facts_accept_a_typed_number() -> None:
    number = resident_id()
    assert id_facts(f" {number[:9]} {number[9:]} ", on=TODAY).birth_date == date(1990, 3, 7)


def test_id_facts_refuse_an_invalid_number() -> None:
    with pytest.raises(InvalidValue) as raised:
        id_facts(with_wrong_check_digit(resident_id()), on=TODAY)
    assert raised.value.invalid.code == "resident_id.checksum"
    with pytest.raises(InvalidValue) as raised:
        id_facts(resident_id(born="20080615"), on=date(2008, 6, 14))
    assert raised.value.invalid.code == "resident_id.birth_date_future"


# --- jsonschema ---------------------------------------------------------------------

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "applicant": {
            "type": "object",
            "properties": {
                "id_number": {"type": "string", "format": "cn-resident-id"},
                "mobile": {"type": "string", "format": "cn-mobile"},
            },
        },
        "company_code": {"type": "string", "format": "cn-uscc"},
        "repayment_card": {"type": "string", "format": "bank-card"},
        "signed_on": {"type": "string", "format": "date"},
    },
}


def validator() -> Draft202012Validator:
    return Draft202012Validator(SCHEMA, format_checker=format_checker())


def test_schema_accepts_valid_identifiers() -> None:
    record = {
        "applicant": {"id_number": resident_id(), "mobile": "13912345678"},
        "company_code": credit_code(),
        "repayment_card": bank_card(),
        "signed_on": "2026-06-15",
    }
    assert list(validator().iter_errors(record)) == []


def test_schema_rejects_bad_checksum_at_its_json_path() -> None:
    record = {"applicant": {"id_number": with_wrong_check_digit(resident_id())}}
    (error,) = validator().iter_errors(record)
    assert error.json_path == "$.applicant.id_number"
    assert error.validator == "format"
    assert isinstance(error.cause, InvalidValue)
    assert error.cause.invalid.code == "resident_id.checksum"
    assert error.cause.invalid.zh == "身份证号码校验位不正确"


def test_schema_reports_every_bad_identifier_and_keeps_standard_formats() -> None:
    record = {
        "applicant": {"id_number": resident_id(), "mobile": "010 6512 3456"},
        "company_code": with_wrong_check_digit(credit_code()),
        "repayment_card": with_wrong_check_digit(bank_card()),
        "signed_on": "2026-13-01",
    }
    errors = {e.json_path: e for e in validator().iter_errors(record)}
    assert sorted(errors) == [
        "$.applicant.mobile",
        "$.company_code",
        "$.repayment_card",
        "$.signed_on",
    ]
    assert isinstance(errors["$.company_code"].cause, InvalidValue)


def test_format_checkers_ignore_non_strings_and_raise_for_bad_strings() -> None:
    conforms = FORMAT_CHECKERS["cn-resident-id"]
    assert conforms(12345) is True
    assert conforms(resident_id()) is True
    with pytest.raises(InvalidValue):
        conforms("12345")
    assert set(FORMAT_CHECKERS) == {"cn-resident-id", "cn-uscc", "bank-card", "cn-mobile"}


def test_each_format_checker_is_independent() -> None:
    first, second = format_checker(), format_checker()
    first.checkers.pop("cn-uscc")
    assert "cn-uscc" in second.checkers
    assert "cn-uscc" in format_checker().checkers
    # jsonschema's shared checker stays as it ships.
    assert "cn-uscc" not in Draft202012Validator.FORMAT_CHECKER.checkers
