"""The record page's scripts in Chromium: autosave of drafts (two tabs: the second gets the
conflict, not a silent overwrite; a network error loses nothing), and the reveal button."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, Route, expect
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, Record
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, PHONE, ClientFactory, TenantFixture
from .records_helpers import new_user
from .test_records_sensitive import fresh_id
from .test_records_sensitive_rows import _draft, gx, masked  # noqa: F401  (gx: a fixture)

RECORD_URL = re.compile(r".*/forms/application/records/[0-9a-f-]{36}$")


async def _signed_in(browser: Browser, base_url: str, slug: str, email: str) -> BrowserContext:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{slug}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{slug}/")
    await page.close()
    return context


async def _status(page: Page, text: str) -> None:
    await expect(page.locator("#autosave-status")).to_contain_text(text, timeout=15000)


async def _record(tenant: TenantFixture, url: str) -> Record:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await Record.get(id=url.rsplit("/", 1)[1])


async def test_autosave_in_two_tabs_and_offline(
    base_url: str, browser: Browser, tenants: dict[str, TenantFixture], tmp_path: Path
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"], "business")
    context = await _signed_in(browser, base_url, "alpha", email)
    first = await context.new_page()
    await first.goto(f"{base_url}/t/alpha/forms/application/new")
    await first.fill("#f-applicant_name", "自动保存浏览器测试公司")
    await _status(first, "已自动保存")
    await expect(first).to_have_url(RECORD_URL)  # the first autosave made the draft
    url = first.url
    assert re.search(r"已自动保存 \d{2}:\d{2}", await first.inner_text("#autosave-status"))

    second = await context.new_page()
    await second.goto(url)
    assert await second.input_value("#f-applicant_name") == "自动保存浏览器测试公司"
    await first.fill("#f-purpose", "第一个窗口写的用途")
    await _status(first, "已自动保存")
    await second.fill("#f-applicant_name", "第二个窗口的名称")
    await _status(second, "其他窗口")  # 409: told, not silently overwritten
    assert await second.input_value("#f-applicant_name") == "第二个窗口的名称"  # kept
    await second.screenshot(path=str(tmp_path / "autosave-conflict-phone.png"), full_page=True)
    record = await _record(alpha, url)
    assert record.data["applicant_name"] == "自动保存浏览器测试公司"
    assert record.data["purpose"] == "第一个窗口写的用途" and record.revision == 2

    # The network fails: the input stays, the status says so, and it saves once it is back.
    async def refuse(route: Route) -> None:
        await route.abort()

    await first.route("**/autosave", refuse)
    await first.fill("#f-lending_bank", "断网时写的银行")
    await _status(first, "网络异常")
    assert await first.input_value("#f-lending_bank") == "断网时写的银行"
    await first.unroute("**/autosave", refuse)
    await _status(first, "已自动保存")
    record = await _record(alpha, url)
    assert record.data["lending_bank"] == "断网时写的银行" and record.revision == 3

    # The page's own save button after autosaves: it carries the current revision.
    await first.fill("#f-term_months", "12")
    await first.click("button[value=save]")
    await first.wait_for_url(re.compile(r".*\?done=saved$"))
    record = await _record(alpha, url)
    assert record.data["term_months"] == 12 and record.data["lending_bank"] == "断网时写的银行"
    await context.close()


async def test_reveal_button_shows_the_value_and_is_audited(
    base_url: str,
    browser: Browser,
    make_client: ClientFactory,
    gx: TenantFixture,  # noqa: F811
    tmp_path: Path,
) -> None:
    holder = fresh_id()
    rid, _ = await _draft(make_client, gx, holder)
    page_url = f"{base_url}/t/{gx.slug}/forms/application/records/{rid}"
    legal, _ = await new_user(gx, ["legal"])
    committee, _ = await new_user(gx, ["committee_member"])

    context = await _signed_in(browser, base_url, gx.slug, legal)
    page = await context.new_page()
    await page.goto(page_url)
    cell = page.locator("#f-shareholders-0-id_number")
    assert await cell.input_value() == masked(holder)
    button = page.get_by_role("button", name="显示")
    assert await button.count() == 1
    box = await button.bounding_box()
    assert box is not None and box["height"] >= 44
    await button.click()
    await expect(cell).to_have_value(holder)
    assert await page.get_by_role("button", name="显示").count() == 0
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(tmp_path / "revealed-phone.png"), full_page=True)
    await context.close()
    with tenant_scope(gx.context):
        async with in_transaction():
            events = await AuditEvent.filter(action="record.revealed", object_id=rid)
    assert [e.data["pointer"] for e in events] == ["/shareholders/0/id_number"]

    context = await _signed_in(browser, base_url, gx.slug, committee)
    page = await context.new_page()
    await page.goto(page_url)
    assert await page.locator("#f-shareholders-0-id_number").input_value() == masked(holder)
    assert await page.locator("button[data-reveal]").count() == 0
    # Trying anyway, with the page's own CSRF token: refused.
    status = await page.evaluate(
        """async (url) => {
            const token = document.querySelector("input[name=csrf_token]").value;
            const r = await fetch(url, {method: "POST", headers: {"Content-Type":
              "application/json", "X-CSRF-Token": token},
              body: JSON.stringify({pointer: "/shareholders/0/id_number"})});
            return r.status;
        }""",
        f"/t/{gx.slug}/api/forms/application/records/{rid}/reveal",
    )
    assert status == 403
    await context.close()
