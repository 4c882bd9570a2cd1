"""Staff pages of generated forms: render, save a draft, refuse inline, submit, and one
walk through it all in Chromium at a phone's size."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.async_api import Browser
from starlette.datastructures import FormData
from stdnum.cn import ric

from danbao.authz.fields import FieldRule, FieldRules
from danbao.records.definition import FormDefinition
from danbao.web.form_pages import build_sections, data_from_form

from .conftest import PASSWORD, PHONE, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user

FORM = "/t/{slug}/forms/application"
NUMBER = re.compile(r"编号 (DB-\d{4}-\d{5})")


def _id_number(body: str) -> tuple[str, str]:
    """A resident ID with a correct check digit, and the same with a wrong one."""
    digit = ric.calc_check_digit(body + "0")  # stdnum wants a placeholder check digit
    wrong = "1" if digit != "1" else "2"
    return body + digit, body + wrong


GOOD_ID, BAD_ID = _id_number("44030619850315123")


def _url(slug: str, *parts: str) -> str:
    return "/".join([FORM.format(slug=slug), *parts])


def _posted(data: dict[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in data.items()}


async def _new_draft(client: httpx.AsyncClient, csrf: str, slug: str, **fields: str) -> str:
    response = await client.post(
        _url(slug, "new"), data={"csrf_token": csrf, "action": "save", **fields}
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert "/forms/application/records/" in location and location.endswith("?done=saved")
    return location.split("?")[0]


async def test_the_new_page_is_generated_from_the_definition(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        response = await client.get(_url("alpha", "new"))
    assert response.status_code == 200
    html = response.text
    assert f'name="csrf_token" value="{csrf}"' in html
    for title in ("申请人信息", "借款与担保需求", "申请人名称", "法定代表人身份证号"):
        assert title in html
    assert re.search(r'<label for="f-applicant_name">申请人名称<span class="req"', html)
    assert '<select id="f-industry" name="industry"' in html
    assert '<option value="I">信息传输、软件和信息技术服务业</option>' in html  # GB/T 4754
    assert re.search(
        r'<input type="radio" id="f-enterprise_size-1" name="enterprise_size" '
        r'value="small"><span>小型企业</span>',
        html,
    )
    assert re.search(r'id="f-amount" name="amount"[^>]*inputmode="decimal"', html)
    assert re.search(r'type="number" id="f-term_months"[^>]*inputmode="numeric"', html)
    assert '<textarea rows="4" id="f-purpose" name="purpose"' in html  # maxLength 500
    assert "按工信部中小企业划型标准" in html  # help text
    assert 'value="submit"' in html and 'value="save"' in html


async def test_a_draft_is_saved_listed_and_shown(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        page = await _new_draft(
            client,
            csrf,
            "alpha",
            applicant_name="草稿页面测试有限公司",
            amount="1500000.50",
            term_months="",
        )
        shown = await client.get(page + "?done=saved")
        listing = await client.get(_url("alpha", "records"))
        api = await client.get("/t/alpha/api/forms/application/records/" + page.rsplit("/", 1)[1])
    assert shown.status_code == 200
    assert 'value="草稿页面测试有限公司"' in shown.text and "草稿已保存" in shown.text
    assert api.json()["data"] == {"applicant_name": "草稿页面测试有限公司", "amount": 1500000.5}
    assert listing.status_code == 200
    assert "草稿页面测试有限公司" in listing.text and "草稿" in listing.text
    assert page in listing.text and ">新建<" in listing.text


async def test_invalid_values_come_back_beside_their_fields(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        response = await client.post(
            _url("alpha", "new"),
            data={
                "csrf_token": csrf,
                "action": "save",
                "applicant_name": "保留的名称",
                "legal_rep_id_number": BAD_ID,
                "term_months": "99",
                "amount": "很多",
            },
        )
    assert response.status_code == 422
    html = response.text
    assert re.search(r'class="error summary" role="alert"', html)
    assert 'value="保留的名称"' in html and 'value="99"' in html
    id_error = re.search(r'id="f-legal_rep_id_number-error">([^<]+)<', html)
    assert id_error is not None and "法定代表人身份证号" in id_error.group(1)
    assert re.search(r'id="f-term_months-error">[^<]*不能大于60', html)
    assert re.search(r'id="f-amount-error">[^<]*应为数字', html)
    assert 'aria-invalid="true"' in html


async def test_submit_assigns_a_number_and_locks_the_record(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        page = await _new_draft(client, csrf, "alpha", applicant_name="提交页面测试有限公司")
        incomplete = await client.post(page, data={"csrf_token": csrf, "action": "submit"})
        data = {**_posted(VALID), "legal_rep_id_number": GOOD_ID}
        done = await client.post(page, data={"csrf_token": csrf, "action": "submit", **data})
        shown = await client.get(done.headers.get("location", page))
        again = await client.post(page, data={"csrf_token": csrf, "action": "save"})
    assert incomplete.status_code == 422
    assert re.search(r'id="f-uscc-error">[^<]*为必填项', incomplete.text)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=submitted")
    number = NUMBER.search(shown.text)
    assert number is not None, shown.text
    assert "已提交" in shown.text
    assert 'value="submit"' not in shown.text  # read-only now: no buttons, fields disabled
    assert re.search(r'id="f-applicant_name"[^>]*disabled', shown.text)
    assert 'name="applicant_name"' not in shown.text
    assert again.status_code == 409


async def test_other_tenants_session_is_refused(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "beta", tenants["beta"].manager_email)
        page = await client.get(_url("alpha", "new"))
        post = await client.post(
            _url("alpha", "new"), data={"csrf_token": csrf, "applicant_name": "越权测试"}
        )
        listing = await client.get(_url("alpha", "records"))
    assert page.status_code == 401 and post.status_code == 401 and listing.status_code == 401
    assert "越权测试" not in listing.text


async def test_without_create_permission_403_and_masked_fields(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    tenant = tenants["alpha"]
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenant.manager_email)
        page = await _new_draft(
            client, csrf, "alpha", applicant_name="脱敏测试有限公司", contact_mobile="13800138000"
        )
    email, _ = await new_user(tenant, ["legal"])  # reads all, masked mobile, cannot create
    async with make_client() as client:
        response = await client.post(
            "/t/alpha/api/session", json={"email": email, "password": PASSWORD}
        )
        legal_csrf = response.json()["csrf_token"]
        new = await client.get(_url("alpha", "new"))
        post = await client.post(
            _url("alpha", "new"), data={"csrf_token": legal_csrf, "applicant_name": "不允许"}
        )
        listing = await client.get(_url("alpha", "records"))
        shown = await client.get(page)
    assert new.status_code == 403 and post.status_code == 403
    assert listing.status_code == 200 and ">新建<" not in listing.text
    assert shown.status_code == 200
    assert "13800138000" not in shown.text and 'value="138****8000"' in shown.text
    assert re.search(r'id="f-contact_mobile"[^>]*readonly', shown.text)
    assert 'value="save"' not in shown.text


# A repeating section, as gxdb's shareholders: the template form has none, so the
# conversion and the per-row messages are checked on a definition built here.
ROWS_FORM = FormDefinition(
    "rows",
    {
        "title": "rows",
        "schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "title": "名称"},
                "shareholders": {
                    "type": "array",
                    "title": "股东",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "title": "股东名称"},
                            "id_number": {"type": "string", "title": "证件号码"},
                            "ratio_pct": {"type": "number", "title": "持股比例"},
                            "natural": {"type": "boolean", "title": "自然人"},
                        },
                    },
                },
            },
        },
        "ui": {"layout": [{"title": "股东", "fields": ["name", "shareholders"]}]},
    },
)


def test_rows_are_converted_and_messages_reach_their_row() -> None:
    rules = FieldRules({}, FieldRule.WRITABLE)
    posted = FormData(
        [
            ("name", " 甲公司 "),
            ("shareholders[0][name]", "张三"),
            ("shareholders[0][ratio_pct]", "60.5"),
            ("shareholders[0][natural]", "on"),
            ("shareholders[3][name]", "李四"),
            ("shareholders[3][id_number]", BAD_ID),
            ("shareholders[5][name]", ""),  # an empty row is dropped
        ]
    )
    data = data_from_form(ROWS_FORM, posted, rules, existing={})
    assert data == {
        "name": "甲公司",
        "shareholders": [
            {"name": "张三", "ratio_pct": 60.5, "natural": True},
            {"name": "李四", "id_number": BAD_ID},
        ],
    }
    errors = {"/shareholders/1/id_number": "证件号码格式不正确"}
    (section,) = build_sections(ROWS_FORM, data, rules, errors, "zh-CN", read_only=False)
    rows = section["fields"][1]
    assert rows.kind == "array" and len(rows.rows) == 2
    cell = {c.key: c for c in rows.rows[1]}["id_number"]
    assert cell.name == "shareholders[1][id_number]" and cell.error == "证件号码格式不正确"
    assert rows.template_row[0].name == "shareholders[__INDEX__][name]"
    cleared = data_from_form(ROWS_FORM, FormData([]), rules, existing=data)
    assert cleared == {"name": None, "shareholders": None}


async def test_fill_fix_and_submit_on_a_phone(
    base_url: str, browser: Browser, tenants: dict[str, TenantFixture], tmp_path: Path
) -> None:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/gamma/login")
    await page.fill("input[name=email]", tenants["gamma"].manager_email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/gamma/")
    await page.click("text=新建")
    await page.wait_for_url(f"{base_url}/t/gamma/forms/application/new")

    await page.fill("#f-applicant_name", "手机填表测试有限公司")
    await page.fill("#f-uscc", VALID["uscc"])
    await page.check("#f-enterprise_size-1")  # 小型企业, a radio group
    await page.select_option("#f-industry", "I")
    await page.fill("#f-legal_rep_name", "王五")
    await page.fill("#f-legal_rep_id_number", BAD_ID)
    await page.fill("#f-contact_mobile", "13800138000")
    await page.fill("#f-amount", "2000000")
    await page.fill("#f-term_months", "12")
    await page.fill("#f-lending_bank", "中国银行福州分行")
    await page.fill("#f-purpose", "补充流动资金")
    await page.click("button[value=save]")

    message = page.locator("#f-legal_rep_id_number-error")
    await message.wait_for()
    assert "法定代表人身份证号" in await message.inner_text()
    assert await page.locator("[role=alert]").count() == 1
    assert await page.input_value("#f-applicant_name") == "手机填表测试有限公司"
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(tmp_path / "form-error-phone.png"), full_page=True)

    await page.fill("#f-legal_rep_id_number", GOOD_ID)
    await page.click("button[value=submit]")
    await page.wait_for_url(re.compile(r".*/forms/application/records/.*\?done=submitted$"))
    number = await page.locator(".record-number").inner_text()
    assert re.fullmatch(r"编号 DB-\d{4}-\d{5}", number.strip())
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = await page.locator(".crumbs a").bounding_box()
    assert box is not None and box["height"] >= 44
    await page.screenshot(path=str(tmp_path / "form-submitted-phone.png"), full_page=True)
    await context.close()
