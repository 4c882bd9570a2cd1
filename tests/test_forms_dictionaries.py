"""Tenant dictionaries and the field vocabulary (x-dictionary, x-picker, x-kind): loading,
the definition errors a bundle author sees, and record validation against them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from danbao.config import REPO_ROOT
from danbao.definitions import Bundle, BundleInvalid, DefinitionError, load_bundle
from danbao.forms.dictionaries import DEPARTMENTS, Dictionary
from danbao.forms.kinds import as_text, expand, range_is_reversed
from danbao.records.definition import FormDefinition
from danbao.records.validation import validate_data

TENANTS = REPO_ROOT / "tenants"
FORM = "forms/application.json"


@pytest.fixture(scope="module")
def template() -> Bundle:
    return load_bundle(TENANTS / "_template")


@pytest.fixture(scope="module")
def gxdb() -> Bundle:
    return load_bundle(TENANTS / "gxdb")


def errors_after(bundle: Bundle, change: Any) -> list[DefinitionError]:
    files = bundle.to_dict()
    change(files)
    with pytest.raises(BundleInvalid) as caught:
        Bundle.from_dict(files)
    return caught.value.errors


def find(errors: list[DefinitionError], file: str, pointer: str, fragment: str) -> None:
    hits = [e for e in errors if e.file == file and e.pointer == pointer and fragment in e.message]
    assert hits, f"no {file}:{pointer} ~ {fragment!r} in:\n" + "\n".join(map(str, errors))


# ---------------------------------------------------------------- the dictionaries shipped


def test_regions_follow_the_national_codes(gxdb: Bundle) -> None:
    regions = Dictionary.from_json(gxdb.dictionaries["regions"])
    assert regions.hierarchical and len(regions.levels) == 3
    assert regions.display("510107", "zh-CN") == "四川省 / 成都市 / 武侯区"
    assert regions.display("510703", "zh-CN") == "四川省 / 绵阳市 / 涪城区"
    # An English label where the file has one, the Chinese where it has not.
    assert regions.display("510107", "en") == "Sichuan / Chengdu / 武侯区"
    assert [i.code for i in regions.path("510107")] == ["510000", "510100", "510107"]
    provinces = [i.code for i in regions.children(None)]
    assert len(provinces) == 34 and "110000" in provinces and "820000" in provinces
    assert all(len(code) == 6 and code.isdigit() for code in regions.codes)
    assert len([i for i in regions.children("510000")]) == 21  # 四川's 21 prefectures
    assert regions.display("999999", "zh-CN") == "999999"  # unknown: shown as stored


def test_industries_and_collateral_types(gxdb: Bundle) -> None:
    industries = Dictionary.from_json(gxdb.dictionaries["industries"])
    sections = [i.code for i in industries.children(None)]
    assert sections == [chr(c) for c in range(ord("A"), ord("T") + 1)]  # GB/T 4754-2017
    assert industries.display("03", "zh-CN") == "农、林、牧、渔业 / 畜牧业"
    collateral = Dictionary.from_json(gxdb.dictionaries["collateral_types"])
    assert collateral.display("RE01", "en") == "Real property / Residential property"


def test_options_tree_and_retired_items() -> None:
    content = {
        "id": "sizes",
        "title": {"zh-CN": "规模"},
        "items": [
            {"code": "a", "label": {"zh-CN": "甲", "en": "A"}, "items": [
                {"code": "a1", "label": {"zh-CN": "甲一"}},
                {"code": "a2", "label": {"zh-CN": "甲二"}, "retired": True},
            ]},
            {"code": "b", "label": {"zh-CN": "乙"}},
        ],
    }  # fmt: skip
    sizes = Dictionary.from_json(content)
    assert sizes.options("zh-CN") == [("a", "甲"), ("a1", "甲 / 甲一"), ("b", "乙")]
    # A record that already holds a retired code still shows it.
    assert ("a2", "甲 / 甲二") in sizes.options("zh-CN", keep="a2")
    assert "a2" in sizes.codes  # and it still validates: old records stay readable
    assert sizes.tree("en") == [
        {"c": "a", "l": "A", "k": [{"c": "a1", "l": "甲一"}]},
        {"c": "b", "l": "乙"},
    ]
    assert Dictionary.from_json(copy.deepcopy(content)) == sizes
    assert hash(Dictionary.from_json(copy.deepcopy(content))) == hash(sizes)


def test_departments_are_a_tree_like_a_dictionary(gxdb: Bundle) -> None:
    form = FormDefinition.from_bundle(gxdb, "application")
    departments = form.lookups[DEPARTMENTS]
    assert (
        departments.display("chengdu_biz", "zh-CN") == "集团本部 / 成都分公司 / 成都分公司业务一部"
    )
    assert departments.display("chengdu", "en") == "Group head office / Chengdu branch"
    # The same lookups, whether from the live bundle or from a stored version's files.
    assert FormDefinition.from_files(gxdb.to_dict(), "application").lookups == form.lookups


# ---------------------------------------------------------------- what an author gets wrong


def test_an_unknown_dictionary_is_a_definition_error_with_its_pointer(template: Bundle) -> None:
    def change(files: dict[str, Any]) -> None:
        files[FORM]["schema"]["properties"]["industry"]["x-dictionary"] = "sectors"
        del files["dictionaries/regions.json"]

    errors = errors_after(template, change)
    find(errors, FORM, "/schema/properties/industry/x-dictionary", "no dictionary 'sectors'")
    find(
        errors, FORM, "/schema/properties/business_address/x-dictionary", "no dictionary 'regions'"
    )


def test_dictionary_files_are_checked(template: Bundle) -> None:
    def change(files: dict[str, Any]) -> None:
        industries = files["dictionaries/industries.json"]
        industries["items"][1]["code"] = "A"  # a duplicate of the first
        industries["items"][0]["items"][0]["items"] = [{"code": "011", "label": {"zh-CN": "谷"}}]
        industries["items"][2]["label"] = {"en": "Manufacturing"}  # zh-CN is required
        one = [{"code": "x", "label": {"zh-CN": "x"}}]
        files["dictionaries/users.json"] = {"id": "users", "title": {"zh-CN": "用户"}, "items": one}
        files["dictionaries/misnamed.json"] = {
            "id": "other",
            "title": {"zh-CN": "别"},
            "items": one,
        }

    errors = errors_after(template, change)
    file = "dictionaries/industries.json"
    find(errors, file, "/items/2/label", "'zh-CN'")
    find(errors, "dictionaries/misnamed.json", "/id", "does not match the file name")
    # The cross-checks run on the files that passed their meta-schema: fix the label first.
    errors = errors_after(
        template,
        lambda files: (
            change(files),
            files["dictionaries/industries.json"]["items"][2].update(label={"zh-CN": "制造业"}),
            files.pop("dictionaries/misnamed.json"),
        ),
    )
    find(errors, file, "/items/1/code", "duplicate code 'A' (first at /items/0/code)")
    find(errors, file, "/items/0/items/0/items", "deeper than the 2 levels")
    find(errors, "dictionaries/users.json", "/id", "reserved")


@pytest.mark.parametrize(
    ("prop", "pointer", "fragment"),
    [
        ({"type": "string", "x-kind": "colour"}, "/x-kind", "must be one of"),
        ({"x-kind": "date_range", "properties": {}}, "/properties", "supplied by x-kind"),
        ({"x-kind": "richtext", "type": "object"}, "/type", "of type 'string'"),
        ({"x-kind": "address"}, "/x-kind", "x-dictionary"),
        ({"type": "number", "x-dictionary": "industries"}, "/x-dictionary", "applies to a string"),
        ({"type": "string", "x-picker": "role"}, "/x-picker", "one of user, department"),
        ({"type": "integer", "x-picker": "user"}, "/x-picker", "a string or an array"),
        (
            {"type": "string", "x-picker": "user", "x-dictionary": "industries"},
            "/x-picker",
            "not both",
        ),
    ],
)
def test_vocabulary_mistakes_are_named(
    template: Bundle, prop: dict[str, Any], pointer: str, fragment: str
) -> None:
    def change(files: dict[str, Any]) -> None:
        files[FORM]["schema"]["properties"]["odd"] = prop

    errors = errors_after(template, change)
    find(errors, FORM, "/schema/properties/odd" + pointer, fragment)


def test_compound_kinds_and_user_pickers_are_fields_not_columns(gxdb: Bundle) -> None:
    def change(files: dict[str, Any]) -> None:
        columns = files[FORM]["schema"]["properties"]["shareholders"]["items"]["properties"]
        columns["since"] = {"x-kind": "date_range"}
        columns["contact"] = {"type": "string", "x-picker": "user"}
        columns["branch"] = {"type": "string", "x-picker": "department"}  # this one is fine

    errors = errors_after(gxdb, change)
    base = "/schema/properties/shareholders/items/properties"
    find(errors, FORM, f"{base}/since/x-kind", "not inside one")
    find(errors, FORM, f"{base}/contact/x-picker", "not inside one")
    assert not [e for e in errors if "/branch" in e.pointer]


# ---------------------------------------------------------------- records checked against them


def _errors(
    form: FormDefinition, data: dict[str, Any], *, complete: bool = False
) -> dict[str, str]:
    return {
        e.pointer: e.message for e in validate_data(form, data, complete=complete, locale="zh-CN")
    }


def test_codes_are_checked_against_the_dictionary(template: Bundle) -> None:
    form = FormDefinition.from_bundle(template, "application")
    assert _errors(form, {"industry": "I"}) == {}
    assert _errors(form, {"industry": "tech"}) == {"/industry": "所属行业不是字典中的有效选项"}
    english = validate_data(form, {"industry": "Z"}, complete=False, locale="en")
    assert [e.message for e in english] == ["所属行业 is not an option of its list"]
    address = {"region": "510107", "detail": "武侯祠大街 231 号"}
    assert _errors(form, {"business_address": address}) == {}
    refused = _errors(form, {"business_address": {"region": "519999", "detail": "x"}})
    assert list(refused) == ["/business_address/region"]


def test_a_date_range_ends_on_or_after_its_start(template: Bundle) -> None:
    form = FormDefinition.from_bundle(template, "application")
    same_day = {"start": "2026-03-01", "end": "2026-03-01"}
    assert _errors(form, {"guarantee_period": same_day}) == {}
    assert _errors(form, {"guarantee_period": {"start": "2026-03-01"}}) == {}  # a draft may
    reversed_ = {"start": "2026-03-01", "end": "2026-02-28"}
    assert _errors(form, {"guarantee_period": reversed_}) == {
        "/guarantee_period/end": "担保期间的结束日期不能早于开始日期"
    }
    bad = _errors(form, {"guarantee_period": {"start": "2026-02-30", "end": "x", "to": 1}})
    assert set(bad) == {"/guarantee_period/start", "/guarantee_period/end", "/guarantee_period"}
    assert range_is_reversed(reversed_) and not range_is_reversed({"start": "2026-13-01"})
    assert as_text("date_range", same_day) == "2026-03-01 ~ 2026-03-01"


def test_several_codes_and_departments(gxdb: Bundle) -> None:
    content = copy.deepcopy(gxdb.forms["application"])
    content["schema"]["properties"]["sectors"] = {
        "type": "array", "items": {"type": "string"}, "x-dictionary": "industries", "title": "行业"
    }  # fmt: skip
    form = FormDefinition(
        "application", content, FormDefinition.from_bundle(gxdb, "application").lookups
    )
    assert _errors(form, {"sectors": ["A", "03"]}) == {}
    assert list(_errors(form, {"sectors": ["A", "ZZ", 3]})) == ["/sectors/1", "/sectors/2"]
    assert _errors(form, {"handling_department": "chengdu_biz"}) == {}
    assert _errors(form, {"handling_department": "shanghai"}) == {
        "/handling_department": "经办部门不是本机构的有效选项"
    }


def test_expand_fills_in_the_structure_and_keeps_the_author_s_words() -> None:
    schema = {
        "type": "object",
        "properties": {
            "at": {"title": "地址", "x-kind": "address", "x-dictionary": "regions"},
            "notes": {"x-kind": "richtext", "maxLength": 50},
        },
    }
    expanded = expand(schema)
    assert schema["properties"]["at"] == {
        "title": "地址",
        "x-kind": "address",
        "x-dictionary": "regions",
    }
    at = expanded["properties"]["at"]
    assert at["title"] == "地址" and at["required"] == ["region", "detail"]
    assert at["properties"]["region"]["x-dictionary"] == "regions" and "x-dictionary" not in at
    assert expanded["properties"]["notes"] == {
        "type": "string",
        "maxLength": 50,
        "x-kind": "richtext",
    }
