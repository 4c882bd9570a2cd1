"""A staff user attaches files in a generated form, in a real headless Chromium at a
phone's size: the upload goes through the API at once, a refused file is explained
beside the field, the saved draft holds the file and downloads it back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette

from .attachments_helpers import EXE, LICENCE, PDF, AttachTenant, make_attach_tenant
from .conftest import PASSWORD, PHONE


@pytest.fixture(scope="module")
async def att(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> AttachTenant:
    return await make_attach_tenant(Path(tmp_path_factory.mktemp("bundle")) / "b")


async def test_attach_a_file_in_the_form_on_a_phone(
    base_url: str, browser: Browser, att: AttachTenant, tmp_path: Path
) -> None:
    slug = att.tenant.slug
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{slug}/login")
    await page.fill("input[name=email]", att.manager)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{slug}/")
    await page.goto(f"{base_url}/t/{slug}/forms/application/new")
    await page.fill("#f-applicant_name", "附件测试有限公司")

    picker = page.locator(f"#f-{LICENCE}")
    assert await picker.get_attribute("accept") == ".pdf,.jpg,.png"
    widget = page.locator(f"[data-upload$='/attachments/{LICENCE}']")
    # A program renamed to .pdf is refused by its content, beside the field.
    fake = tmp_path / "营业执照.pdf"
    fake.write_bytes(EXE)
    await picker.set_input_files(str(fake))
    await expect(widget.locator("[data-upload-error]")).to_contain_text("内容与扩展名不符")
    assert await widget.locator("ul.files li").count() == 0

    real = tmp_path / "营业执照（副本）.pdf"
    real.write_bytes(PDF)
    await picker.set_input_files(str(real))
    await expect(widget.locator("ul.files li")).to_have_count(1)
    await expect(widget.locator("[data-upload-error]")).to_be_hidden()
    assert await widget.locator("ul.files a").inner_text() == "营业执照（副本）.pdf"
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(tmp_path / "attach-phone.png"), full_page=True)

    await page.click("button[value=save]")
    await page.wait_for_url("**/forms/application/records/*?done=saved")
    link = page.locator(f"[data-upload$='/attachments/{LICENCE}'] ul.files a")
    await expect(link).to_have_text("营业执照（副本）.pdf")
    async with page.expect_download() as waiting:
        await link.click()
    download = await waiting.value
    assert download.suggested_filename == "营业执照（副本）.pdf"
    saved = Path(await download.path())
    assert await asyncio.to_thread(saved.read_bytes) == PDF

    # Removing it from the draft and saving leaves the field empty.
    await page.locator("[data-remove-file]").click()
    await page.click("button[value=save]")
    await page.wait_for_url("**/forms/application/records/*?done=saved")
    await expect(
        page.locator(f"[data-upload$='/attachments/{LICENCE}'] ul.files li")
    ).to_have_count(0)
    await context.close()
