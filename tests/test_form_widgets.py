"""The widgets of generated forms: how each is shown and read back (unit), on a page and
over the API of a tenant running the gxdb bundle (PostgreSQL), and in Chromium at a
phone's size, where the browser's money capitals must equal the server's."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser
from starlette.datastructures import FormData
from tortoise.transactions import in_transaction

from danbao.authz.fields import FieldRule, FieldRules
from danbao.config import REPO_ROOT
from danbao.definitions import load_bundle
from danbao.forms import to_chinese_capitals
from danbao.forms.richtext import is_blank, plain_text, sanitise
from danbao.provisioning import apply_bundle, create_tenant, create_user
from danbao.records.definition import FormDefinition
from danbao.tenancy.context import tenant_scope
from danbao.web.form_pages import Field, build_sections, data_from_form
from danbao.web.widgets import Choices, UserChoice, money_hint

from .conftest import PASSWORD, PHONE, ClientFactory, TenantFixture, sign_in
from .records_helpers import new_user

TENANTS = REPO_ROOT / "tenants"
WRITABLE = FieldRules({}, FieldRule.WRITABLE)
GX = FormDefinition.from_bundle(load_bundle(TENANTS / "gxdb"), "application")
QS = FormDefinition.from_bundle(load_bundle(TENANTS / "qsnd"), "agri_loan")


def _fields(
    form: FormDefinition,
    values: dict[str, Any] | None = None,
    *,
    choices: Choices | None = None,
    locale: str = "zh-CN",
    read_only: bool = False,
) -> dict[str, Field]:
    sections = build_sections(
        form, values or {}, WRITABLE, {}, locale, read_only=read_only, choices=choices
    )
    return {f.key: f for section in sections for f in section["fields"]}


# ---------------------------------------------------------------- shown (unit)


def test_each_widget_gets_its_kind() -> None:
    fields = _fields(QS)
    assert fields["subject_type"].kind == "radio"
    assert [v for v, _ in fields["subject_type"].options] == [
        "farmer",
        "family_farm",
        "cooperative",
    ]
    assert fields["subsidies"].kind == "checkboxes"
    assert ("fee", "担保费补贴") in fields["subsidies"].options
    assert fields["insured"].kind == "switch"
    assert fields["farm_address"].kind == "address"
    assert fields["industry"].kind == "cascade"  # a hierarchical dictionary, widget "cascade"
    assert fields["visit_notes"].kind == "richtext"
    assert fields["amount"].kind == "money" and fields["amount"].extra["capitals"]
    assert fields["annual_income_yuan"].extra["unit"] == "万元"
    gx = _fields(GX)
    assert gx["guarantee_period"].kind == "date_range"
    assert gx["bank_risk_share_pct"].kind == "percent"
    assert gx["industry"].kind == "select" and gx["industry"].extra["searchable"]
    assert gx["handling_department"].kind == "select"
    assert ("chengdu", "集团本部 / 成都分公司") in gx["handling_department"].options
    assert gx["branch"].kind == "select" and not gx["branch"].extra["searchable"]
    # In a repeating section, a dictionary column is a flat select of whole paths.
    row = {c.key: c for c in gx["counter_guarantees"].template_row}
    assert ("RE01", "不动产 / 住宅") in row["collateral"].options


def test_money_is_shown_grouped_with_wan_and_capitals() -> None:
    fields = _fields(GX, {"amount": 1234567.8, "registered_capital_yuan": 5000000})
    amount = fields["amount"]
    assert amount.value == "1,234,567.80" and amount.extra["unit"] == "元"
    assert amount.extra["hint"] == "123.46万元 · 人民币壹佰贰拾叁万肆仟伍佰陆拾柒元捌角整"
    capital = fields["registered_capital_yuan"]
    assert capital.value == "500" and capital.extra["unit"] == "万元"
    assert capital.extra["hint"] == "5,000,000.00元"  # in 万元, so the yuan beside it
    assert _fields(GX, {"amount": "很多"})["amount"].value == "很多"  # refused: shown as typed
    assert money_hint(Decimal("16409.02"), wan=False, capitals=True).endswith("零贰分")


def test_cascades_preselect_the_path_and_wait_below() -> None:
    fields = _fields(QS, {"farm_address": {"region": "510107", "detail": "武侯祠大街"}})
    levels = fields["farm_address"].extra["levels"]
    assert [level["value"] for level in levels] == ["510000", "510100", "510107"]
    assert [level["name"] for level in levels] == ["省", "市", "区县"]
    assert ("510107", "武侯区") in levels[2]["options"] and len(levels[0]["options"]) == 34
    assert fields["farm_address"].extra["display"] == "四川省 / 成都市 / 武侯区 武侯祠大街"
    empty = _fields(QS)["farm_address"].extra["levels"]
    assert len(empty[0]["options"]) == 34 and empty[1]["options"] == [] == empty[2]["options"]
    english = _fields(QS, locale="en")["industry"].extra["levels"]
    assert english[0]["name"] == "Section" and ("A", english[0]["options"][0][1]) == (
        "A",
        "Agriculture, forestry, animal husbandry and fishery",
    )


def test_user_options_name_the_department_and_keep_a_departed_holder() -> None:
    users = (
        UserChoice("u1", "李晓梅", "chengdu_biz", True),
        UserChoice("u2", "离职员工", "risk", False),
        UserChoice("u3", "周立群", None, True),
    )
    choices = Choices(GX.lookups, users)
    options = _fields(GX, choices=choices)["account_manager"].options
    assert options == [("u1", "李晓梅（成都分公司业务一部）"), ("u3", "周立群")]
    kept = _fields(GX, {"account_manager": "u2"}, choices=choices)["account_manager"]
    assert ("u2", "离职员工（风险管理部）") in kept.options
    assert kept.extra["display"] == "离职员工（风险管理部）"


def test_rich_text_is_sanitised_for_display() -> None:
    html = (
        '<p onclick="x()">概况<script>alert(1)</script> <a href="javascript:alert(1)">链接</a></p>'
    )
    shown = _fields(QS, {"visit_notes": html})["visit_notes"].extra["html"]
    assert "script" not in shown and "onclick" not in shown and "javascript" not in shown
    assert shown.startswith("<p>概况")
    assert sanitise('<b>粗</b><img src=x onerror=alert(1)><a href="https://x.cn">x</a>') == (
        '<b>粗</b><a href="https://x.cn" rel="noopener noreferrer">x</a>'
    )
    assert is_blank("<p><br></p>") and is_blank("<p>&nbsp;</p>") and not is_blank("<p>字</p>")
    assert plain_text("<p>第一段</p><ul><li>甲&amp;乙</li></ul>") == "第一段甲&乙"


# ---------------------------------------------------------------- read back (unit)


def test_posts_become_typed_values() -> None:
    posted = FormData(
        [
            ("amount", " 1,234,567.80 "),
            ("annual_income_yuan", "12.5"),  # in 万元
            ("subsidies", "interest"),
            ("subsidies", "fee"),
            ("subsidies", "interest"),
            ("insured", "on"),
            ("farm_address.region", "510000"),
            ("farm_address.region", "510100"),
            ("farm_address.region", "510107"),
            ("farm_address.detail", " 武侯祠大街 231 号 "),
            ("industry", "A"),
            ("industry", "03"),
            ("visit_notes", "<p>走访</p>"),
        ]
    )
    data = data_from_form(QS, posted, WRITABLE, existing={})
    assert data["amount"] == 1234567.8 and data["annual_income_yuan"] == 125000
    assert data["subsidies"] == ["interest", "fee"] and data["insured"] is True
    assert data["farm_address"] == {"region": "510107", "detail": "武侯祠大街 231 号"}
    assert data["industry"] == "03" and data["visit_notes"] == "<p>走访</p>"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("3000000", 3000000),
        ("300万", 3000000),
        ("1.5万元", 15000),
        ("¥12.30", 12.3),
        ("很多", "很多"),
    ],
)
def test_money_posts(typed: str, stored: Any) -> None:
    data = data_from_form(QS, FormData([("amount", typed)]), WRITABLE, existing={})
    assert data["amount"] == stored


def test_percent_and_date_range_posts() -> None:
    posted = FormData(
        [
            ("bank_risk_share_pct", "20%"),
            ("guarantee_period.start", "2026-01-01"),
            ("guarantee_period.end", ""),
        ]
    )
    data = data_from_form(GX, posted, WRITABLE, existing={"guarantee_period": {"start": "x"}})
    assert data["bank_risk_share_pct"] == 20
    assert data["guarantee_period"] == {"start": "2026-01-01"}
    cleared = data_from_form(GX, FormData([]), WRITABLE, existing={"guarantee_period": {}})
    assert cleared["guarantee_period"] is None  # emptied: the field is cleared


def test_a_cascade_without_script_keeps_only_a_consistent_path() -> None:
    # The province changed, but the old city and district are still selected.
    posted = FormData(
        [
            ("farm_address.region", "110000"),
            ("farm_address.region", "510100"),
            ("farm_address.region", "510107"),
            ("farm_address.detail", "x"),
        ]
    )
    data = data_from_form(QS, posted, WRITABLE, existing={})
    assert data["farm_address"]["region"] == "110000"
    unknown = FormData([("farm_address.region", "999999")])
    assert data_from_form(QS, unknown, WRITABLE, existing={})["farm_address"] == {
        "region": "999999"  # kept, so validation names it
    }


# ---------------------------------------------------------------- on a tenant (PostgreSQL)


@pytest.fixture(scope="module")
async def gx(app: Any) -> dict[str, Any]:
    """A tenant on the gxdb bundle, an account manager in 成都分公司业务一部."""
    slug = f"wid{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, TENANTS / "gxdb", admin_email=f"admin@{slug}.test", admin_password=PASSWORD,
        operator="tests",
    )  # fmt: skip
    fixture = TenantFixture(slug, tenant.id, f"admin@{slug}.test", f"am@{slug}.test")
    with tenant_scope(fixture.context):
        async with in_transaction():
            manager = await create_user(
                fixture.manager_email, "李晓梅", PASSWORD, ["account_manager"], "chengdu_biz"
            )
    return {"tenant": fixture, "manager_id": str(manager.id)}


def _api(slug: str, *parts: str) -> str:
    return "/".join([f"/t/{slug}/api/forms/application/records", *parts])


async def test_user_pickers_accept_only_the_tenant_s_own_users(
    make_client: ClientFactory, gx: dict[str, Any], tenants: dict[str, TenantFixture]
) -> None:
    tenant: TenantFixture = gx["tenant"]
    _, foreign_id = await new_user(tenants["alpha"], ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.manager_email)
        headers = {"X-CSRF-Token": csrf}

        async def save(value: Any) -> httpx.Response:
            data = {"applicant_name": "选人测试有限公司", "account_manager": value}
            return await client.post(_api(tenant.slug), json={"data": data}, headers=headers)

        foreign = await save(str(foreign_id))
        unknown = await save(str(uuid.uuid4()))
        malformed = await save("李晓梅")
        own = await save(gx["manager_id"])
        page = await client.get(f"/t/{tenant.slug}/forms/application/new")
    for refused in (foreign, unknown, malformed):
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"] == [
            {"pointer": "/account_manager", "message": "经办客户经理不是本机构的用户"}
        ]
    assert own.status_code == 201 and own.json()["data"]["account_manager"] == gx["manager_id"]
    assert str(foreign_id) not in page.text  # never offered either
    assert f'<option value="{gx["manager_id"]}">李晓梅（成都分公司业务一部）</option>' in page.text


async def test_codes_dates_and_rich_text_over_the_api(
    make_client: ClientFactory, gx: dict[str, Any]
) -> None:
    tenant: TenantFixture = gx["tenant"]
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.manager_email)
        headers = {"X-CSRF-Token": csrf}
        bad = {
            "industry": "tech",
            "handling_department": "beijing",
            "business_address": {"region": "510107"},
            "guarantee_period": {"start": "2026-06-01", "end": "2026-05-31"},
            "financing_channels": ["bank_loan", "pawn"],
            "project_overview": "<p>x</p>",
        }
        refused = await client.post(_api(tenant.slug), json={"data": bad}, headers=headers)
        good = {
            "applicant_name": "字典测试有限公司",
            "industry": "C",
            "handling_department": "chengdu_biz",
            "business_address": {"region": "510107", "detail": "武侯祠大街 231 号"},
            "guarantee_period": {"start": "2026-06-01", "end": "2027-05-31"},
            "financing_channels": ["bank_loan", "leasing"],
            "project_overview": "<p>概况<script>alert(1)</script><strong>重点</strong></p>",
            "counter_guarantees": [
                {
                    "kind": "mortgage",
                    "collateral": "RE01",
                    "owner": "张三",
                    "appraised_value_yuan": 1,
                }
            ],
        }
        saved = await client.post(_api(tenant.slug), json={"data": good}, headers=headers)
        blanked = await client.patch(
            _api(tenant.slug, saved.json()["id"]),
            json={"data": {"project_overview": "<p><br></p>"}},
            headers=headers,
        )
        row = {"kind": "mortgage", "collateral": "XX", "owner": "张三", "appraised_value_yuan": 1}
        bad_row = await client.post(
            _api(tenant.slug), json={"data": {"counter_guarantees": [row]}}, headers=headers
        )
    assert refused.status_code == 422
    details = {d["pointer"]: d["message"] for d in refused.json()["error"]["details"]}
    assert details == {
        "/industry": "所属行业不是字典中的有效选项",
        "/handling_department": "经办部门不是本机构的有效选项",
        "/financing_channels/1": "现有融资渠道不是允许的选项",
        "/guarantee_period/end": "担保期间的结束日期不能早于开始日期",
    }  # a draft's address may lack its detail
    assert saved.status_code == 201, saved.text
    stored = saved.json()["data"]
    assert stored["project_overview"] == "<p>概况<strong>重点</strong></p>"
    assert stored["business_address"] == good["business_address"]
    assert blanked.status_code == 200 and "project_overview" not in blanked.json()["data"]
    assert bad_row.status_code == 422
    assert [d["pointer"] for d in bad_row.json()["error"]["details"]] == [
        "/counter_guarantees/0/collateral"
    ]


async def test_the_page_posts_widgets_and_shows_names(
    make_client: ClientFactory, gx: dict[str, Any]
) -> None:
    tenant: TenantFixture = gx["tenant"]
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.manager_email)
        new = await client.get(f"/t/{tenant.slug}/forms/application/new")
        posted = await client.post(
            f"/t/{tenant.slug}/forms/application/new",
            data={
                "csrf_token": csrf,
                "action": "save",
                "applicant_name": "页面控件测试有限公司",
                "amount": "1,234,567.80",
                "registered_capital_yuan": "500",
                "related_party": "on",
                "financing_channels": ["bank_loan", "bond"],
                "account_manager": gx["manager_id"],
                "business_address.region": ["510000", "510100", "510107"],
                "business_address.detail": "武侯祠大街 231 号",
                "guarantee_period.start": "2026-06-01",
                "guarantee_period.end": "2027-05-31",
                "project_overview": "<p><em>概况</em></p>",
            },
        )
        assert posted.status_code == 303, posted.text
        record_url = posted.headers["location"].split("?")[0]
        shown = await client.get(record_url)
        data = (await client.get(_api(tenant.slug, record_url.rsplit("/", 1)[1]))).json()["data"]
        reversed_ = await client.post(
            record_url,
            data={
                "csrf_token": csrf,
                "action": "save",
                "guarantee_period.start": "2026-06-01",
                "guarantee_period.end": "2026-01-01",
            },
        )
    html = new.text
    assert re.search(
        r'<input type="checkbox" role="switch" id="f-related_party" name="related_party"', html
    )
    assert 'data-money data-unit="yuan" data-capitals' in html
    assert 'data-money data-unit="wan"' in html and ">万元</span>" in html
    assert re.search(r'<fieldset class="field address" id="f-business_address" data-cascade', html)
    assert 'aria-label="经营地址 · 省"' in html and "data-cascade-tree" in html
    assert 'name="guarantee_period.start"' in html and 'name="guarantee_period.end"' in html
    assert 'role="toolbar"' in html and 'contenteditable="true"' in html
    assert '<script src="/vendor/nzh/nzh.cn.min.js" defer></script>' in html
    assert data["amount"] == 1234567.8 and data["registered_capital_yuan"] == 5000000
    assert data["financing_channels"] == ["bank_loan", "bond"] and data["related_party"] is True
    assert data["business_address"]["region"] == "510107"
    assert data["project_overview"] == "<p><em>概况</em></p>"
    page = shown.text
    assert 'value="1,234,567.80"' in page and "人民币壹佰贰拾叁万肆仟伍佰陆拾柒元捌角整" in page
    assert re.search(r'<option value="510107" selected>武侯区</option>', page)
    assert re.search(rf'<option value="{gx["manager_id"]}" selected>李晓梅', page)
    assert re.search(
        r'id="f-financing_channels-3" name="financing_channels" value="bond" checked', page
    )
    assert reversed_.status_code == 422
    assert re.search(
        r'id="f-guarantee_period-error">担保期间的结束日期不能早于开始日期<', reversed_.text
    )
    assert 'href="#f-guarantee_period-end"' in reversed_.text


async def test_a_record_keeps_the_dictionary_of_its_version(
    make_client: ClientFactory, app: Any, tmp_path: Path
) -> None:
    """Version 2 retires the code 'T' and adds 'X': a draft of version 1 still takes 'T'."""
    slug = f"pin{uuid.uuid4().hex[:8]}"
    made, _ = await create_tenant(
        slug, TENANTS / "_template", admin_email=f"admin@{slug}.test", admin_password=PASSWORD,
        operator="tests",
    )  # fmt: skip
    pinned = TenantFixture(slug, made.id, f"admin@{slug}.test", f"am@{slug}.test")
    with tenant_scope(pinned.context):
        async with in_transaction():
            await create_user(pinned.manager_email, "经理", PASSWORD, ["account_manager"])
    bundle = load_bundle(TENANTS / "_template").to_dict()
    industries = bundle["dictionaries/industries.json"]
    industries["items"] = [i for i in industries["items"] if i["code"] != "T"]
    industries["items"].append({"code": "X", "label": {"zh-CN": "其他"}})
    folder = tmp_path / "v2"
    for path, content in bundle.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    async with make_client() as client:
        csrf = await sign_in(client, slug, pinned.manager_email)
        headers = {"X-CSRF-Token": csrf}
        old = await client.post(_api(slug), json={"data": {"industry": "T"}}, headers=headers)
        assert old.status_code == 201, old.text
        version, created = await apply_bundle(slug, folder, operator="tests")
        assert created and version == 2
        kept = await client.patch(
            _api(slug, old.json()["id"]), json={"data": {"industry": "T"}}, headers=headers
        )
        moved = await client.patch(
            _api(slug, old.json()["id"]), json={"data": {"industry": "X"}}, headers=headers
        )
        new_t = await client.post(_api(slug), json={"data": {"industry": "T"}}, headers=headers)
        new_x = await client.post(_api(slug), json={"data": {"industry": "X"}}, headers=headers)
    assert kept.status_code == 200 and kept.json()["form_version"] == 1
    assert moved.status_code == 422
    assert new_t.status_code == 422 and new_x.status_code == 201
    assert new_x.json()["form_version"] == 2


# ---------------------------------------------------------------- in Chromium


AMOUNTS = [
    "0", "0.05", "0.5", "1", "10", "15", "1200.5", "16409.02", "107000", "107000.53",
    "1010000", "100000001", "20000000", "99999999.99", "9999999999999999.99",
]  # fmt: skip


async def test_widgets_in_a_phone_browser(
    base_url: str, browser: Browser, gx: dict[str, Any], tmp_path: Path
) -> None:
    tenant: TenantFixture = gx["tenant"]
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base_url}/t/{tenant.slug}/login")
    await page.fill("input[name=email]", tenant.manager_email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{tenant.slug}/")
    await page.goto(f"{base_url}/t/{tenant.slug}/forms/application/new")

    # The browser spells capitals exactly as the server does (nzh + our 元角分 rules).
    spelled = await page.evaluate(
        "(xs) => xs.map(x => DanbaoWidgets.capitals(DanbaoWidgets.toFen(x, false)))", AMOUNTS
    )
    assert spelled == [to_chinese_capitals(a) for a in AMOUNTS]

    await page.fill("#f-applicant_name", "手机控件测试有限公司")
    await page.locator("#f-amount").press_sequentially("1234567.8")
    assert await page.input_value("#f-amount") == "1,234,567.8"
    assert await page.inner_text("#f-amount-hint") == (
        "123.46万元 · 人民币壹佰贰拾叁万肆仟伍佰陆拾柒元捌角整"
    )
    await page.fill("#f-registered_capital_yuan", "500")
    assert await page.inner_text("#f-registered_capital_yuan-hint") == "5,000,000.00元"

    # The city and district lists fill as the levels above are chosen.
    assert not await page.locator("#f-business_address-region-1").is_visible()
    await page.select_option("#f-business_address-region", "510000")
    await page.select_option("#f-business_address-region-1", "510700")
    await page.select_option("#f-business_address-region-2", "510703")
    await page.fill("#f-business_address-detail", "临园路东段 1 号")

    # A long list gets a search box: typing narrows the industries.
    search = page.locator("input.select-search[aria-controls=f-industry]")
    await search.fill("制造")
    assert await page.locator("#f-industry option").all_inner_texts() == ["请选择", "制造业"]
    await page.select_option("#f-industry", "C")

    await page.click("label[for=f-financing_channels-0]")
    await page.click("label.switch[for=f-related_party]")
    await page.fill("#f-guarantee_period-start", "2026-06-01")
    await page.fill("#f-guarantee_period-end", "2026-01-01")
    editor = page.locator("#f-project_overview-editor")
    await editor.click()
    await page.click("button[data-cmd=bold]")
    await page.keyboard.type("重点项目")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(tmp_path / "widgets-phone.png"), full_page=True)
    await page.click("button[value=save]")

    message = page.locator("#f-guarantee_period-error")
    await message.wait_for()
    assert "结束日期不能早于开始日期" in await message.inner_text()
    await page.fill("#f-guarantee_period-end", "2027-05-31")
    await page.click("button[value=save]")
    await page.wait_for_url(re.compile(r".*/records/.*\?done=saved$"))

    record_id = page.url.split("?")[0].rsplit("/", 1)[1]
    api = await context.request.get(f"{base_url}{_api(tenant.slug, record_id)}")
    data = (await api.json())["data"]
    assert data["amount"] == 1234567.8 and data["registered_capital_yuan"] == 5000000
    assert data["business_address"] == {"region": "510703", "detail": "临园路东段 1 号"}
    assert data["industry"] == "C" and data["financing_channels"] == ["bank_loan"]
    assert data["related_party"] is True
    assert data["guarantee_period"] == {"start": "2026-06-01", "end": "2027-05-31"}
    assert "<b>重点项目</b>" in data["project_overview"]  # the editor's bold, kept by nh3
    assert await page.input_value("#f-amount") == "1,234,567.80"
    assert await page.locator("#f-business_address-region-1").is_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []
    await context.close()
