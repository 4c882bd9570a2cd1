"""Real pages in a real headless Chromium, at a phone's size."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from .conftest import PASSWORD, PHONE, TenantFixture

# The served app (`base_url`) and the headless Chromium (`browser`) are in conftest.py,
# shared with the browser tests of other pages.


async def test_sign_in_on_a_phone(
    base_url: str, browser: Browser, tenants: dict[str, TenantFixture], tmp_path: Path
) -> None:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/alpha/")
    assert page.url.endswith("/t/alpha/login")
    assert await page.locator("h1").inner_text() == "登录"

    await page.fill("input[name=email]", tenants["alpha"].admin_email)
    await page.fill("input[name=password]", "wrong-password-1")
    await page.click("button[type=submit]")
    assert "邮箱或密码错误" in await page.locator(".error").inner_text()

    await page.fill("input[name=email]", tenants["alpha"].admin_email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/alpha/")
    assert "欢迎" in await page.locator("h1").inner_text()
    assert "系统管理员" in await page.content()
    # Usable on a phone: nothing wider than the screen, buttons big enough to tap.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = await page.locator("button[type=submit]").bounding_box()
    assert box is not None and box["height"] >= 44
    await page.screenshot(path=str(tmp_path / "home-phone.png"), full_page=True)

    await page.click("text=退出登录")
    await page.wait_for_url(f"{base_url}/t/alpha/login")
    await context.close()


async def test_english_on_request(base_url: str, browser: Browser) -> None:
    context = await browser.new_context(viewport=PHONE, locale="en-US")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/beta/login")
    assert await page.locator("h1").inner_text() == "Sign in"
    await page.click("text=中文")
    assert await page.locator("h1").inner_text() == "登录"
    await context.close()
