"""A staff member of a guarantor set up like 广信担保 fills its guarantee application in
Chromium, at a desktop's width and at a phone's: rows added and removed, a field that
appears with its condition and whose value is dropped once hidden, an age read live from
an ID number, the coverage computed as the rows change, an inline error for a bad ID
number, then submit and find the record in the list."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from starlette.applications import Starlette

from danbao.config import REPO_ROOT
from danbao.provisioning import create_tenant

from .conftest import PASSWORD, PHONE, ClientFactory, TenantFixture, sign_in
from .records_helpers import new_user
from .test_form_logic import OLD_ID, YOUNG_ID

DESKTOP = {"width": 1280, "height": 900}
BAD_ID = OLD_ID[:-1] + ("1" if OLD_ID[-1] != "1" else "2")  # a wrong check digit


@pytest.fixture(scope="module")
async def demo_like(app: Starlette) -> TenantFixture:
    slug = f"gx{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug,
        REPO_ROOT / "tenants" / "gxdb",
        admin_email=f"admin@{slug}.test",
        admin_password=PASSWORD,
        operator="tests",
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


def field(page: Page, key: str) -> Any:
    """The wrapper of a top-level field (not a cell of a row)."""
    return page.locator(f"section[data-section] > .field[data-key={key}]")


async def add_row(page: Page, rows: str) -> Any:
    before = await page.locator(f"[data-rows={rows}] fieldset.row").count()
    await page.click(f"[data-rows={rows}] [data-add-row]")
    row = page.locator(f"[data-rows={rows}] fieldset.row").nth(before)
    await expect(row).to_be_visible()
    return row


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_fill_the_guarantee_application(
    base_url: str,
    browser: Browser,
    demo_like: TenantFixture,
    make_client: ClientFactory,
    viewport: dict[str, int],
    tmp_path: Path,
) -> None:
    email, _ = await new_user(demo_like, ["account_manager"], "chengdu_biz")
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{demo_like.slug}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{demo_like.slug}/")
    await page.click("li:has-text('融资担保业务申请表') a.button")
    await page.wait_for_url(re.compile(r".*/forms/application/new$"))
    await page.wait_for_selector("form.record-form[data-logic-ready]", state="attached")

    applicant = f"锦程机械{uuid.uuid4().hex[:6]}有限公司"
    for select, value in (
        ("branch", "chengdu"),
        ("business_type", "working_capital"),
        ("lending_bank", "icbc"),
        ("enterprise_size", "small"),
        ("industry", "C"),
    ):
        await page.select_option(f"#f-{select}", value)
    await page.fill("#f-amount", "2000000")
    await page.fill("#f-term_months", "12")
    await page.fill("#f-purpose", "购买原材料，补充流动资金")
    await page.fill("#f-applicant_name", applicant)
    await page.fill("#f-uscc", "91350100M000100Y43")
    await page.fill("#f-registered_capital_yuan", "1000")  # in 万元
    await page.fill("#f-established_on", "2012-05-18")
    await page.fill("#f-legal_rep_name", "王建国")
    await page.fill("#f-contact_mobile", "13800138000")

    # A conditional field: shown while the switch is on; hidden again, its value is dropped.
    note = field(page, "related_party_note")
    await expect(note).to_be_hidden()
    await page.check("#f-related_party")
    await expect(note).to_be_visible()
    await expect(note.locator("label .req")).to_have_count(1)  # required_when, live
    await page.fill("#f-related_party_note", "这段说明随开关关闭而不保存")
    await page.uncheck("#f-related_party")
    await expect(note).to_be_hidden()

    # A repeating section: add two shareholders, remove one.
    first = await add_row(page, "shareholders")
    await first.locator("[data-key=name] input").fill("王建国")
    await first.locator("[data-key=holder_type] select").select_option("person")
    await first.locator("[data-key=id_number] input").fill(YOUNG_ID)
    await first.locator("[data-key=share_pct] input").fill("100")
    second = await add_row(page, "shareholders")
    await second.locator("[data-key=name] input").fill("多余的一行")
    await second.locator("[data-remove-row]").click()
    await expect(page.locator("[data-rows=shareholders] fieldset.row")).to_have_count(1)

    # Counter-guarantees: row conditions and the coverage, computed live as rows change.
    coverage = page.locator("#f-coverage_ratio")
    mortgage = await add_row(page, "counter_guarantees")
    await mortgage.locator("[data-key=kind] select").select_option("mortgage")
    await mortgage.locator("[data-key=collateral] select").select_option("RE01")
    await mortgage.locator("[data-key=owner] input").fill("王建国")
    await mortgage.locator("[data-key=certificate_no] input").fill("川(2024)成都市不动产权第0001号")
    await mortgage.locator("[data-key=appraised_value_yuan] input").fill("3000000")
    await mortgage.locator("[data-key=haircut] input").fill("0.3")
    await expect(mortgage.locator("[data-key=net_value_yuan] input")).to_have_value("2100000.00")
    await expect(coverage).to_have_value("1.0500")
    surety = await add_row(page, "counter_guarantees")
    await surety.locator("[data-key=kind] select").select_option("guarantee")
    await expect(surety.locator("[data-key=certificate_no]")).to_be_hidden()
    await expect(mortgage.locator("[data-key=certificate_no]")).to_be_visible()
    await surety.locator("[data-key=collateral] select").select_option("GU01")
    await surety.locator("[data-key=owner] input").fill("李四")
    await surety.locator("[data-key=appraised_value_yuan] input").fill("1000000")
    await expect(coverage).to_have_value("1.5500")
    await expect(page.locator("#f-secured_value_yuan")).to_have_value("3100000.00")
    await surety.locator("[data-remove-row]").click()
    await expect(coverage).to_have_value("1.0500")

    # A bad ID number: no age can be read from it; the server says why, beside the field.
    await page.fill("#f-legal_rep_id_number", BAD_ID)
    await expect(page.locator("#f-legal_rep_age")).to_have_value("")
    await page.click("button[value=save]")
    message = page.locator("#f-legal_rep_id_number-error")
    await expect(message).to_contain_text("校验位不正确")
    assert await page.locator("[role=alert]").count() == 1
    await expect(page.locator("#f-applicant_name")).to_have_value(applicant)
    await expect(coverage).to_have_value("1.0500")  # the page came back with its logic
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    await page.screenshot(path=str(tmp_path / "application-error.png"), full_page=True)

    # Fixed: the age appears at once, and with it (over 60) the succession plan.
    plan = field(page, "succession_plan")
    await expect(plan).to_be_hidden()
    await page.fill("#f-legal_rep_id_number", OLD_ID)
    await expect(page.locator("#f-legal_rep_age")).to_have_value(re.compile(r"^(6\d|[7-9]\d)$"))
    await expect(plan).to_be_visible()
    await page.fill("#f-succession_plan", "长子王磊已任总经理三年")
    await page.click("button[value=submit]")
    await page.wait_for_url(re.compile(r".*/forms/application/records/.*\?done=submitted$"))
    number = (await page.locator(".record-number").inner_text()).strip()
    assert re.fullmatch(r"编号 GX-\d{4}-\d{5}", number), number
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    record_id = page.url.split("/records/")[1].split("?")[0]
    await page.screenshot(path=str(tmp_path / "application-submitted.png"), full_page=True)

    await page.click(".crumbs a")
    await page.wait_for_url(re.compile(r".*/forms/application/records$"))
    card = page.locator(".record-card", has_text=number.removeprefix("编号 "))
    await expect(card).to_be_visible()
    await expect(card).to_contain_text("已提交")
    await context.close()

    # What the server kept: the dropped note is gone, the computed values its own.
    async with make_client() as client:
        await sign_in(client, demo_like.slug, email)
        stored = await client.get(f"/t/{demo_like.slug}/api/forms/application/records/{record_id}")
    data = stored.json()["data"]
    assert "related_party_note" not in data and data["related_party"] is False
    assert len(data["shareholders"]) == 1 and len(data["counter_guarantees"]) == 1
    assert data["coverage_ratio"] == 1.05 and data["secured_value_yuan"] == 2100000
    assert data["registered_capital_yuan"] == 10000000  # typed as 1000 万元
    assert data["succession_plan"] == "长子王磊已任总经理三年"
