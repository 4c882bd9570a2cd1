"""The console's form editor: the server checks the text within its bundle and says where
(file, pointer, line), previews the generated form, publishes a version, shows versions
and diffs; the migration pages plan, run and roll back. In Chromium: an error appears as
you type, and the preview follows the text."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent
from danbao.jobs.worker import run_worker
from danbao.provisioning import create_tenant
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, PHONE, REDIS_URL, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .records_helpers import new_user
from .test_record_migration import MAPPING, make_records, version_two

CHECK = "/t/{slug}/api/definitions/forms/application/check"


@pytest.fixture
async def tenant(app: object) -> TenantFixture:
    slug = f"ed{uuid.uuid4().hex[:8]}"
    row, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    return TenantFixture(slug, row.id, f"admin@{slug}.test", "")


async def _page_csrf(client: httpx.AsyncClient, url: str) -> tuple[str, str]:
    page = await client.get(url)
    assert page.status_code == 200, page.text
    return page.text, page.text.split('name="csrf_token" value="')[1].split('"')[0]


def _text_of(page: str) -> str:
    raw = page.split('name="text"')[1].split(">", 1)[1].split("</textarea>")[0]
    import html

    return html.unescape(raw)


async def test_check_says_what_and_where(make_client: ClientFactory, tenant: TenantFixture) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        page, _ = await _page_csrf(client, f"/t/{tenant.slug}/admin/forms/application/edit")
        text = _text_of(page)
        form = json.loads(text)
        check = CHECK.format(slug=tenant.slug)
        headers = {"X-CSRF-Token": csrf}

        ok = await client.post(check, json={"text": text}, headers=headers)
        assert ok.json() == {"valid": True, "errors": []}

        broken = text.replace('"maxLength"', '"maxLenght"', 1)
        answer = (await client.post(check, json={"text": broken}, headers=headers)).json()
        assert not answer["valid"]
        (error,) = answer["errors"]
        assert error["file"] == "forms/application.json"
        assert (
            error["pointer"].endswith("/maxLenght")
            and "unknown JSON Schema keyword" in error["message"]
        )
        line = next(i for i, t in enumerate(broken.splitlines(), 1) if "maxLenght" in t)
        assert error["line"] == line

        syntax = text.replace('"id": "application",', '"id": "application"', 1)
        answer = (await client.post(check, json={"text": syntax}, headers=headers)).json()
        assert not answer["valid"] and answer["errors"][0]["line"] == 3
        assert "not valid JSON" in answer["errors"][0]["message"]

        # A field other files rely on: the error is in permissions.json, where it lies.
        del form["schema"]["properties"]["contact_mobile"]
        form["schema"]["required"].remove("contact_mobile")
        for section in form["ui"]["layout"]:
            section["fields"] = [f for f in section["fields"] if f != "contact_mobile"]
        form["ui"]["fields"].pop("contact_mobile")
        answer = (await client.post(check, json={"text": json.dumps(form)}, headers=headers)).json()
        files = {e["file"] for e in answer["errors"]}
        assert files == {"permissions.json"} and answer["errors"][0]["line"] is None

        dupes = text.replace('"id": "application",', '"id": "application", "id": "x",', 1)
        answer = (await client.post(check, json={"text": dupes}, headers=headers)).json()
        assert "duplicate key 'id'" in answer["errors"][0]["message"]


async def test_preview_is_the_staff_form(make_client: ClientFactory, tenant: TenantFixture) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        page, _ = await _page_csrf(client, f"/t/{tenant.slug}/admin/forms/application/edit")
        form = json.loads(_text_of(page))
        form["schema"]["properties"]["applicant_name"]["title"] = "借款企业<全称>"
        url = f"/t/{tenant.slug}/admin/forms/application/preview"
        shown = await client.post(
            url, json={"text": json.dumps(form)}, headers={"X-CSRF-Token": csrf}
        )
        assert shown.status_code == 200
        assert "借款企业&lt;全称&gt;" in shown.text and 'id="f-applicant_name"' in shown.text
        assert shown.headers["content-security-policy"] == "sandbox allow-scripts"
        bad = await client.post(url, json={"text": "{"}, headers={"X-CSRF-Token": csrf})
        assert bad.status_code == 422


async def test_publish_from_the_editor_and_see_the_diff(
    make_client: ClientFactory, tenant: TenantFixture
) -> None:
    async with make_client() as client:
        await sign_in(client, tenant.slug, tenant.admin_email)
        edit = f"/t/{tenant.slug}/admin/forms/application/edit"
        page, csrf = await _page_csrf(client, edit)
        form = json.loads(_text_of(page))
        form["title"]["zh-CN"] = "担保申请（第二版）"
        refused = await client.post(
            edit, data={"csrf_token": csrf, "text": json.dumps(form)[:-1], "note": "x"}
        )
        assert refused.status_code == 422 and "not valid JSON" in refused.text
        saved = await client.post(
            edit, data={"csrf_token": csrf, "text": json.dumps(form, ensure_ascii=False)}
        )
        assert saved.status_code == 303 and saved.headers["location"].endswith("published=2")
        versions = (await client.get(f"/t/{tenant.slug}/api/definitions/versions")).json()
        assert [v["number"] for v in versions["versions"]] == [1, 2]
        again = await client.post(
            edit, data={"csrf_token": csrf, "text": json.dumps(form, ensure_ascii=False)}
        )
        assert again.headers["location"].endswith("published=2&same=1")
        diff = await client.get(f"/t/{tenant.slug}/admin/versions", params={"from": 1, "to": 2})
        assert diff.status_code == 200
        assert "/title/zh-CN" in diff.text and "担保申请（第二版）" in diff.text
        listing = await client.get(f"/t/{tenant.slug}/admin/forms")
        assert "/admin/forms/application/edit" in listing.text
        new = await client.get(f"/t/{tenant.slug}/admin/forms", params={"new": "visit_log"})
        assert new.status_code == 303
        starter = await client.get(new.headers["location"])
        assert '"id": "visit_log"' in _text_of(starter.text)
    with tenant_scope(tenant.context):
        async with in_transaction():
            event = await AuditEvent.filter(action="definitions.published").order_by("-seq").first()
    assert event is not None and event.object_id == "2"


async def test_editor_and_migrations_refused_to_others(
    make_client: ClientFactory, tenant: TenantFixture, tenants: dict[str, TenantFixture]
) -> None:
    manager, _ = await new_user(tenant, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, manager)
        base = f"/t/{tenant.slug}"
        for method, path in (
            ("GET", "/admin/forms"),
            ("GET", "/admin/forms/application/edit"),
            ("POST", "/admin/forms/application/edit"),
            ("POST", "/admin/forms/application/preview"),
            ("POST", "/api/definitions/forms/application/check"),
            ("GET", "/admin/versions"),
            ("GET", "/admin/forms/application/migrations"),
            ("POST", "/admin/forms/application/migrations"),
        ):
            kwargs = {"json": {"text": "{}"}} if "preview" in path or "check" in path else {}
            answer = await client.request(
                method, base + path, headers={"X-CSRF-Token": csrf}, **kwargs
            )
            assert answer.status_code == 403, (method, path, answer.status_code)
    async with make_client() as other:
        await sign_in(other, "beta", tenants["beta"].admin_email)
        answer = await other.get(f"/t/{tenant.slug}/admin/forms/application/edit")
        assert answer.status_code in (302, 303, 401)


async def test_migration_pages_plan_run_and_roll_back(
    make_client: ClientFactory, tenant: TenantFixture
) -> None:
    await make_records(make_client, tenant, [3_000_000, 8_000_000])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        v1 = (await client.get(f"/t/{tenant.slug}/api/definitions/versions/1")).json()["files"]
        await client.post(
            f"/t/{tenant.slug}/api/definitions/versions",
            json={"files": version_two(v1)},
            headers={"X-CSRF-Token": csrf},
        )
        url = f"/t/{tenant.slug}/admin/forms/application/migrations"
        page, csrf = await _page_csrf(client, url)
        assert "版本 1：2 条记录" in page and "&#34;remove&#34;" in page  # suggested mapping
        form = {"csrf_token": csrf, "from_version": "1", "to_version": "2"}
        dry = await client.post(
            url, data={**form, "operations": json.dumps(MAPPING), "action": "dry_run"}
        )
        assert dry.status_code == 200 and "1 条失败" in dry.text and "/amount_wan" in dry.text
        bad = await client.post(url, data={**form, "operations": "[{", "action": "dry_run"})
        assert bad.status_code == 422
        ok_mapping = [*MAPPING]
        ok_mapping[0] = {"op": "remove", "field": "amount"}
        ok_mapping.append({"op": "add", "field": "amount_wan", "default": 100})
        planned = await client.post(
            url, data={**form, "operations": json.dumps(ok_mapping), "action": "plan"}
        )
        assert planned.status_code == 303, planned.text
        run_url = planned.headers["location"]
        run_page, csrf = await _page_csrf(client, run_url)
        assert "已计划" in run_page
        started = await client.post(run_url + "/run", data={"csrf_token": csrf})
        assert started.status_code == 303
        await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
        done, csrf = await _page_csrf(client, run_url)
        assert "已完成" in done and "2 条将变更" in done
        await client.post(run_url + "/rollback", data={"csrf_token": csrf})
        await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
        assert "已回滚" in (await client.get(run_url)).text


async def _sign_in_page(
    browser: Browser, base_url: str, slug: str, email: str, viewport: dict[str, int]
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{slug}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{slug}/")
    return context, page


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "phone"]
)
async def test_editor_in_chromium_shows_errors_and_follows_the_text(
    base_url: str,
    browser: Browser,
    tenant: TenantFixture,
    tmp_path: Path,
    viewport: dict[str, int],
) -> None:
    context, page = await _sign_in_page(
        browser, base_url, tenant.slug, tenant.admin_email, viewport
    )
    await page.click("text=表单设计")
    await page.click("a[href$='/admin/forms/application/edit']")
    preview = page.frame_locator("#editor-preview")
    await expect(preview.locator("label[for=f-applicant_name]")).to_contain_text("申请人名称")
    await expect(page.locator("#editor-status")).to_have_text("校验通过")

    editor = page.locator("#editor-text")
    text = await editor.input_value()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"maxLength"' in t)
    await editor.fill(text.replace('"maxLength"', '"maxLenght"', 1))
    await expect(page.locator("#editor-status")).to_have_text("发现 1 个问题")
    problem = page.locator("#editor-errors li button")
    await expect(problem).to_contain_text(f"第 {line} 行")
    await expect(problem).to_contain_text("unknown JSON Schema keyword 'maxLenght'")
    await expect(page.locator("#editor-gutter b")).to_have_text(str(line))
    await page.screenshot(path=str(tmp_path / "editor-error.png"), full_page=True)

    fixed = text.replace('"title": "申请人名称"', '"title": "借款企业全称"', 1)
    assert fixed != text
    await editor.fill(fixed)
    await expect(page.locator("#editor-status")).to_have_text("校验通过")
    await expect(preview.locator("label[for=f-applicant_name]")).to_contain_text("借款企业全称")
    if viewport is PHONE:
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.click("#editor-publish")
    await page.wait_for_url(re.compile(r".*/admin/forms/application/edit\?published=2$"))
    await expect(page.locator(".notice")).to_contain_text("2")
    await page.screenshot(path=str(tmp_path / "editor-published.png"), full_page=True)
    await context.close()
