"""Masking values and applying field rules to a payload."""

from __future__ import annotations

from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import apply_field_rules, mask_value


def test_mask_value() -> None:
    assert mask_value("110101199003071234") == "1101**********1234"
    assert mask_value("11010119900307123X") == "1101**********123X"
    assert mask_value("13812345678") == "138****5678"
    assert mask_value("6222021234567890123") == "***************0123"  # bank card: last 4
    assert mask_value("张三丰") == "***"
    assert mask_value("abcd") == "****"
    assert mask_value("") == ""
    for value in ("110101199003071234", "13812345678", "6222021234567890123", "x" * 7):
        assert len(mask_value(value)) == len(value)


RECORD = {
    "applicant_name": "成都某某科技有限公司",
    "legal_rep_id_number": "110101199003071234",
    "contact_mobile": "13812345678",
    "shareholders": [{"name": "张三", "share_pct": 60}],
    "amount": 5_000_000,
    "related_party_note": None,
}


def test_apply_field_rules() -> None:
    rules = {
        "legal_rep_id_number": "masked",
        "contact_mobile": "masked",
        "shareholders": "hidden",
        "amount": "readonly",
        "related_party_note": "masked",
    }
    assert apply_field_rules(RECORD, rules) == {
        "applicant_name": "成都某某科技有限公司",
        "legal_rep_id_number": "1101**********1234",
        "contact_mobile": "138****5678",
        "amount": 5_000_000,
        "related_party_note": None,
    }
    assert RECORD["contact_mobile"] == "13812345678"  # the input is left alone
    assert apply_field_rules(RECORD, {"shareholders": "masked"})["shareholders"] == "****"


def test_apply_field_rules_uses_the_default_of_unnamed_fields() -> None:
    nothing = FieldRules({}, FieldRule.HIDDEN)
    assert apply_field_rules(RECORD, nothing) == {}
    some = FieldRules({"applicant_name": FieldRule.READONLY}, FieldRule.HIDDEN)
    assert apply_field_rules(RECORD, some) == {"applicant_name": "成都某某科技有限公司"}
    everything = FieldRules({"contact_mobile": FieldRule.MASKED}, FieldRule.READONLY)
    assert apply_field_rules(RECORD, everything) == {**RECORD, "contact_mobile": "138****5678"}
