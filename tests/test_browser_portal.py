"""The customer portal in a real Chromium at a phone's size: an applicant signs in with the
code the messaging channel was asked to send, applies with a scanned licence, saves,
submits, follows the project as the guarantor accepts it and issues the letter, downloads
it; another applicant who guesses the project's address gets the ordinary 404."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import asyncpg
from playwright.async_api import Browser, BrowserContext, Page, expect

from .attachments_helpers import PDF
from .conftest import PHONE, ClientFactory, sign_in
from .portal_helpers import LICENCE, contracted, last_code
from .projects_helpers import projects_url
from .records_helpers import VALID
from .test_portal import PortalTenant, mobile, pt  # noqa: F401 (the module's fixture)


async def signed_in(
    browser: Browser, base_url: str, slug: str, number: str
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{slug}/portal/")
    await page.wait_for_url(re.compile(r".*/portal/login$"))  # not signed in yet
    await page.get_by_label("手机号或电子邮箱").fill(number)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("输入验证码")
    await expect(page.locator("[role=status]")).to_contain_text(f"{number[:3]}****{number[-4:]}")
    await page.get_by_label("6 位验证码").fill(last_code(number))
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{slug}/portal/")
    return context, page


async def fits_a_phone(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for box in [await b.bounding_box() for b in await page.locator("main button:visible").all()]:
        assert box is None or box["height"] >= 44


async def test_an_applicant_applies_follows_and_downloads_on_a_phone(
    base_url: str,
    browser: Browser,
    make_client: ClientFactory,
    pt: PortalTenant,  # noqa: F811
    pg_owner: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    slug, number = pt.slug, mobile()
    context, page = await signed_in(browser, base_url, slug, number)
    await expect(page.locator("h1")).to_have_text("我的业务")
    await fits_a_phone(page)

    await page.click("[data-new-application]")
    await page.wait_for_url(re.compile(r".*/portal/apply$"))
    assert await page.locator("#f-account_manager").count() == 0  # hidden from applicants
    for key in ("applicant_name", "uscc", "legal_rep_name", "legal_rep_id_number"):
        await page.fill(f"#f-{key}", str(VALID[key]))
    for key in ("contact_mobile", "amount", "term_months", "lending_bank", "purpose"):
        await page.fill(f"#f-{key}", str(VALID[key]))
    await page.get_by_label("小型企业").check()
    await page.select_option("#f-industry", str(VALID["industry"]))
    scan = tmp_path / "营业执照.pdf"
    scan.write_bytes(PDF)
    await page.locator(f"#f-{LICENCE}").set_input_files(str(scan))
    widget = page.locator(f"[data-upload$='/attachments/{LICENCE}']")
    await expect(widget.locator("ul.files li")).to_have_count(1)
    await fits_a_phone(page)
    await page.screenshot(path=str(tmp_path / "portal-apply-phone.png"), full_page=True)
    await page.click("button[value=save]")
    await page.wait_for_url(re.compile(r".*/portal/applications/[0-9a-f-]{36}\?done=saved$"))
    await expect(page.locator(".notice")).to_contain_text("已保存")
    await expect(widget.locator("ul.files a")).to_have_text("营业执照.pdf")

    await page.click("button[value=submit]")
    await page.wait_for_url(re.compile(r".*/portal/projects/[0-9a-f-]{36}\?done=submitted$"))
    project_id = page.url.split("/")[-1].split("?")[0]
    await expect(page.locator("[data-state]")).to_have_text("已提交，等待受理")
    await expect(page.locator("[data-step=apply]")).to_have_attribute("data-status", "done")
    await expect(page.locator("[data-step=accept]")).to_have_attribute("data-status", "current")
    await fits_a_phone(page)

    # The guarantor accepts it and issues the letter; the applicant reloads and downloads.
    async with make_client() as staff:
        headers = {"X-CSRF-Token": await sign_in(staff, slug, pt.staff)}
        moved = await staff.post(
            projects_url(slug, project_id, "events", "accept"), json={"version": 1}, headers=headers
        )
        assert moved.status_code == 200, moved.text
        record_id = moved.json()["project"]["record_id"]
        await contracted(pg_owner, project_id)  # reviewed, approved, contracted: elsewhere
        issued = await staff.post(
            f"/t/{slug}/api/forms/application/records/{record_id}/documents",
            json={"document": "letter"},
            headers=headers,
        )
        assert issued.status_code == 201, issued.text
    await page.reload()
    await expect(page.locator("[data-state]")).to_have_text("保函已出具，等待银行放款")
    await expect(page.locator("[data-step=letter]")).to_have_attribute("data-status", "done")
    await expect(page.locator(".portal-timeline")).to_contain_text("受理")
    letter = page.locator("a[data-document=letter]")
    await expect(letter).to_contain_text(issued.json()["number"])
    async with page.expect_download() as waiting:
        await letter.click()
    saved = Path(await (await waiting.value).path())
    assert (await asyncio.to_thread(saved.read_bytes)).startswith(b"%PDF")
    await fits_a_phone(page)
    await page.screenshot(path=str(tmp_path / "portal-project-phone.png"), full_page=True)
    await context.close()

    # Another applicant guessing the address: the ordinary 404, and no trace of the project.
    other, page = await signed_in(browser, base_url, slug, mobile())
    answer = await page.goto(f"{base_url}/t/{slug}/portal/projects/{project_id}")
    assert answer is not None and answer.status == 404
    await page.goto(f"{base_url}/t/{slug}/portal/")
    await expect(page.locator(".portal-items > li")).to_have_count(0)
    await other.close()
    assert uuid.UUID(project_id)
