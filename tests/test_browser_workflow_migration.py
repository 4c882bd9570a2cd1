"""Moving running approvals to a newer chain version from the console, in a real Chromium
at a phone's size, on the demo chain (广信担保's review): an approval waiting in the
parallel risk-and-legal block, a new version published, the dry run says it moves by
itself, the plan is kept and run, and the approval is on the new version."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from danbao.definitions import load_bundle
from danbao.jobs.worker import run_worker

from .conftest import PASSWORD, PHONE, REDIS_URL, ClientFactory, sign_in
from .test_approval_pages import GXDB, demo_guarantor, start_approval


async def fits_a_phone(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for box in [await b.bounding_box() for b in await page.locator("main button").all()]:
        assert box is None or box["height"] >= 44


async def test_an_administrator_moves_running_approvals_on_a_phone(
    base_url: str, browser: Browser, make_client: ClientFactory, tmp_path: Path
) -> None:
    gx = await demo_guarantor()
    instance = await start_approval(make_client, gx, 6_000_000)
    files = load_bundle(GXDB).to_dict()
    end = next(n for n in files["workflows/review.json"]["nodes"] if n["type"] == "end")
    end["name"] = {"zh-CN": "审批完成", "en": "Approved"}  # a new plan, the same route
    async with make_client() as admin:
        csrf = await sign_in(admin, gx.slug, gx.tenant.admin_email)
        published = await admin.post(
            f"/t/{gx.slug}/api/definitions/versions",
            json={"files": files},
            headers={"X-CSRF-Token": csrf},
        )
        assert published.status_code == 201 and published.json()["number"] == 2

    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{gx.slug}/login")
    await page.fill("input[name=email]", gx.tenant.admin_email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{gx.slug}/")
    await page.click("a[href$='/admin/approval-migrations']")  # from the home page
    await expect(page.locator("#wfmig-counts")).to_contain_text("版本 1：1 个进行中的审批")
    await fits_a_phone(page)

    await page.click("button[value=dry_run]")
    item = page.locator(f"li[data-instance='{instance}']")
    await expect(item).to_have_class("can-move")
    await expect(item).to_contain_text("节点未变化，自动迁移")
    await expect(item).to_contain_text("保留原待办和处理人")
    await fits_a_phone(page)
    await page.screenshot(path=str(tmp_path / "migration-dry-run.png"), full_page=True)

    await page.click("button[value=plan]")
    await page.wait_for_url(re.compile(r".*/admin/approval-migrations/[0-9a-f-]{36}$"))
    await expect(page.locator("#run-status")).to_have_text("已计划")
    await page.click("text=执行迁移")
    await page.wait_for_url(re.compile(r".*/admin/approval-migrations/[0-9a-f-]{36}$"))
    await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
    await page.reload()
    await expect(page.locator("#run-status")).to_have_text("已完成")
    await expect(page.locator(f"li[data-instance='{instance}']").first).to_contain_text("已迁移")
    await fits_a_phone(page)
    await context.close()

    async with make_client() as admin:
        await sign_in(admin, gx.slug, gx.tenant.admin_email)
        shown = (await admin.get(f"/t/{gx.slug}/api/approvals/{instance}")).json()
    assert shown["instance"]["definition_version"] == 2
    assert shown["history"][-1]["op"] == "migrate"
