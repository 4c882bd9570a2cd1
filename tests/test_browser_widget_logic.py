"""Form conditions over widget values, in Chromium: the page script reads a multiple
choice, a money input typed in 万元 with separators and a cascading region picker the way
the server reads their post (web/widgets.parse), so a condition on them shows and hides
the same fields on both sides, and what is hidden on save is dropped by the server."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette

from danbao.config import REPO_ROOT
from danbao.provisioning import create_tenant

from .conftest import PASSWORD, PHONE, ClientFactory, TenantFixture, sign_in
from .records_helpers import new_user
from .test_browser_form_logic import field

NOTES = {
    "bond_note": '"bond" in financing_channels',
    "large_note": "registered_capital_yuan > 5000000",
    "sichuan_note": 'has(business_address.region) && business_address.region.startsWith("51")',
}


@pytest.fixture(scope="module")
async def widget_logic(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> TenantFixture:
    """广信担保's bundle with three notes shown by conditions on widget fields."""
    target = Path(tmp_path_factory.mktemp("bundle")) / "b"
    shutil.copytree(REPO_ROOT / "tenants" / "gxdb", target)
    path = target / "forms" / "application.json"
    form = json.loads(path.read_text(encoding="utf-8"))
    for key, condition in NOTES.items():
        form["schema"]["properties"][key] = {"type": "string", "title": key, "maxLength": 100}
        form["ui"]["fields"][key] = {"visible_when": condition}
    applicant = next(s for s in form["ui"]["layout"] if s["id"] == "applicant")
    applicant["fields"] += list(NOTES)
    path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    slug = f"wl{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, target, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


async def test_conditions_read_widgets_as_the_server_does(
    base_url: str,
    browser: Browser,
    widget_logic: TenantFixture,
    make_client: ClientFactory,
) -> None:
    email, _ = await new_user(widget_logic, ["account_manager"], "chengdu_biz")
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{widget_logic.slug}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{widget_logic.slug}/")
    await page.goto(f"{base_url}/t/{widget_logic.slug}/forms/application/new")
    await page.wait_for_selector("form.record-form[data-logic-ready]", state="attached")
    bond, large, sichuan = (field(page, key) for key in NOTES)
    for note in (bond, large, sichuan):
        await expect(note).to_be_hidden()

    # Multiple choice: an array of the checked codes.
    await page.check("#f-financing_channels input[value=bond]")
    await expect(bond).to_be_visible()
    await page.uncheck("#f-financing_channels input[value=bond]")
    await expect(bond).to_be_hidden()
    await page.check("#f-financing_channels input[value=bond]")
    await page.fill("#f-bond_note", "2025 年发行公司债")

    # Money in 万元, grouped as typed: 600 万元 is 6,000,000 yuan, 400 万元 is not over 5,000,000.
    await page.fill("#f-registered_capital_yuan", "600")
    await expect(large).to_be_visible()
    await page.fill("#f-large_note", "不应保存")
    await page.fill("#f-registered_capital_yuan", "1,000.5")
    await expect(large).to_be_visible()
    await page.fill("#f-registered_capital_yuan", "400")
    await expect(large).to_be_hidden()

    # A cascade: the deepest level chosen; changing the province empties the levels below.
    await page.select_option("#f-business_address-region", "510000")
    await expect(sichuan).to_be_visible()
    await page.select_option("#f-business_address-region-1", "510100")
    await page.select_option("#f-business_address-region-2", "510107")
    await expect(sichuan).to_be_visible()
    await page.fill("#f-sichuan_note", "成都武侯")
    await page.fill("#f-business_address-detail", "武侯祠大街 231 号")
    await page.fill("#f-applicant_name", "条件控件测试有限公司")
    await page.click("button[value=save]")
    await page.wait_for_url(re.compile(r".*/forms/application/records/.*\?done=saved$"))
    record_id = page.url.split("/records/")[1].split("?")[0]
    await expect(large).to_be_hidden()  # the record page decides the same
    await expect(bond).to_be_visible()
    await context.close()

    async with make_client() as client:
        await sign_in(client, widget_logic.slug, email)
        stored = await client.get(
            f"/t/{widget_logic.slug}/api/forms/application/records/{record_id}"
        )
    data: dict[str, Any] = stored.json()["data"]
    assert data["financing_channels"] == ["bond"] and data["bond_note"] == "2025 年发行公司债"
    assert data["registered_capital_yuan"] == 4000000 and "large_note" not in data
    assert data["business_address"] == {"region": "510107", "detail": "武侯祠大街 231 号"}
    assert data["sichuan_note"] == "成都武侯"
