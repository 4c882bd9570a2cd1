"""The project's timeline (API, paged) and the staff pages of projects and tickets: the
page shows the project, its tickets and one timeline; events and ticket changes made from
the pages go through the same checks as the API; a phone can use them (real Chromium)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette

from danbao.db.models import AuditEvent, PluginResult
from danbao.guarantee.timeline import describe

from .conftest import PASSWORD, PHONE, sign_in
from .test_approvals_operations import Desk, clients, make_desk
from .test_tickets import new_project, open_ticket


@pytest.fixture(scope="module")
async def desk(app: Starlette) -> Desk:
    return await make_desk(clients(app))


async def fire(desk: Desk, who: str, project: str, event: str) -> dict[str, Any]:
    shown = (await desk.call(who, "GET", f"/projects/{project}")).json()
    moved = await desk.call(
        who, "POST", f"/projects/{project}/events/{event}", json={"version": shown["version"]}
    )
    assert moved.status_code == 200, moved.text
    body: dict[str, Any] = moved.json()
    return body


async def test_the_timeline_tells_everything_newest_first_a_page_at_a_time(desk: Desk) -> None:
    project = await new_project(desk)
    await fire(desk, "am", project, "accept")
    await fire(desk, "am", project, "start_due_diligence")
    await open_ticket(desk, "gm", project, subject="补充材料")
    answer = await desk.call("am", "GET", f"/projects/{project}/timeline")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["category"], i["action"]) for i in items] == [
        ("ticket", "ticket.opened"),
        ("project", "project.transition"),
        ("project", "project.transition"),
        ("project", "project.created"),
        ("application", "record.submitted"),
        ("application", "record.created"),
    ]
    assert items[1]["title"] == "开始尽调" and items[1]["lines"] == ["已受理 → 尽调中"]
    assert items[0]["lines"][1] == "业务咨询" and items[0]["actor"] == "测试用户"
    assert items[-1]["lines"] == ["表单版本 1"]
    first = (await desk.call("am", "GET", f"/projects/{project}/timeline?limit=4")).json()
    assert [i["seq"] for i in first["items"]] == [i["seq"] for i in items[:4]]
    rest = await desk.call(
        "am", "GET", f"/projects/{project}/timeline?limit=4&before={first['next_before']}"
    )
    assert [i["seq"] for i in rest.json()["items"]] == [i["seq"] for i in items[4:]]
    assert rest.json()["next_before"] is None
    english = await desk.call("am", "GET", f"/projects/{project}/timeline?lang=en&limit=1")
    assert english.json()["items"][0]["title"] == "Ticket opened"
    bad = await desk.call("am", "GET", f"/projects/{project}/timeline?limit=0")
    assert bad.status_code == 400
    # am2 sees only their own applications: the project is not there.
    hidden = await desk.call("am2", "GET", f"/projects/{project}/timeline")
    assert hidden.status_code == 404 and project not in hidden.text


async def test_the_project_page_fires_events_with_the_version_it_showed(desk: Desk) -> None:
    project = await new_project(desk)
    await open_ticket(desk, "am", project, subject="放款进度")
    base = f"/t/{desk.tenant.slug}"
    async with desk.make_client() as client:
        csrf = await sign_in(client, desk.tenant.slug, desk.email["am"])
        page = await client.get(f"{base}/projects/{project}")
        assert page.status_code == 200
        html = page.text
        assert "草稿" in html and "放款进度" in html and "立项" in html and "受理" in html
        fired = await client.post(
            f"{base}/projects/{project}/events",
            data={"csrf_token": csrf, "event": "accept", "version": "1", "reason": "材料齐全"},
        )
        assert fired.status_code == 303 and fired.headers["location"].endswith("?done=event")
        stale = await client.post(
            f"{base}/projects/{project}/events",
            data={"csrf_token": csrf, "event": "start_due_diligence", "version": "1"},
        )
        assert stale.status_code == 409
        refused = await client.post(
            f"{base}/projects/{project}/events",
            data={"csrf_token": csrf, "event": "approve", "version": "2"},
        )
        assert refused.status_code in (403, 409)  # the manager may not approve; nothing moves
        listed = await client.get(f"{base}/projects?state=SUBMITTED")
        assert project in listed.text
    shown = (await desk.call("am", "GET", f"/projects/{project}")).json()
    assert shown["state"]["code"] == "SUBMITTED" and shown["version"] == 2
    timeline = (await desk.call("am", "GET", f"/projects/{project}/timeline?limit=1")).json()
    assert timeline["items"][0]["lines"] == ["草稿 → 已受理", "材料齐全"]


async def test_ticket_pages_reply_move_and_assign(desk: Desk) -> None:
    project = await new_project(desk)
    ticket = await open_ticket(desk, "gm", project, subject="页面工单")
    tid, base = ticket["id"], f"/t/{desk.tenant.slug}"
    async with desk.make_client() as client:
        csrf = await sign_in(client, desk.tenant.slug, desk.email["am"])
        listed = await client.get(f"{base}/tickets")
        assert "页面工单" in listed.text and 'data-tab="mine"' in listed.text
        replied = await client.post(
            f"{base}/tickets/{tid}/reply", data={"csrf_token": csrf, "body": "已收到"}
        )
        assert replied.status_code == 303
        moved = await client.post(
            f"{base}/tickets/{tid}/act",
            data={"csrf_token": csrf, "action": "resolve", "version": "2"},
        )
        assert moved.status_code == 303
        stale = await client.post(
            f"{base}/tickets/{tid}/act",
            data={"csrf_token": csrf, "action": "close", "version": "2"},
        )
        assert stale.status_code == 409
        page = await client.get(f"{base}/tickets/{tid}")
        assert "已解决" in page.text and "已收到" in page.text
        assert 'value="reopen"' in page.text and 'value="resolve"' not in page.text
    async with desk.make_client() as client:
        csrf = await sign_in(client, desk.tenant.slug, desk.email["gm"])
        given = await client.post(
            f"{base}/tickets/{tid}/assign",
            data={"csrf_token": csrf, "assignee_id": desk.id["am3"], "version": "3"},
        )
        assert given.status_code == 303
    shown = (await desk.call("am3", "GET", f"/tickets/{tid}")).json()
    assert shown["assignee_id"] == desk.id["am3"] and shown["status"]["code"] == "resolved"


async def test_project_and_ticket_pages_on_a_phone(
    desk: Desk, base_url: str, browser: Browser
) -> None:
    project = await new_project(desk)
    await fire(desk, "am", project, "accept")
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    slug = desk.tenant.slug
    await page.goto(f"{base_url}/t/{slug}/login")
    await page.fill("input[name=email]", desk.email["am"])
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{slug}/")
    await page.click("a[href$='/projects']")
    await page.click(f"a[href$='/projects/{project}']")
    await expect(page.locator("h1 .status")).to_have_text("已受理")
    await expect(page.locator(".project-timeline li").first).to_contain_text("受理")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Open a ticket from the project page; it lands on the ticket's page.
    await page.click("details.new-ticket summary")
    await page.fill("#tk-subject", "手机上提的工单")
    await page.fill("#tk-body", "请联系我补充材料")
    await page.click("details.new-ticket button[type=submit]")
    await page.wait_for_url(re.compile(r".*/tickets/[0-9a-f-]{36}\?done=opened$"))
    await expect(page.locator("h1")).to_have_text("手机上提的工单")
    await page.fill("#rp-body", "内部：先核实")
    await page.check("#rp-internal")
    await page.click("form[action$='/reply'] button[type=submit]")
    await expect(page.locator("li.reply.internal")).to_contain_text("内部：先核实")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await context.close()


def test_loan_events_read_as_sums_in_yuan() -> None:
    event = AuditEvent(
        seq=7,
        at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        actor_kind="user",
        actor_id="u1",
        action="loan.repaid",
        object_type="project",
        object_id="p1",
        data={"principal": "100000", "interest": "512.5", "outstanding_after": "900000"},
    )
    entry = describe(event, "zh-CN", {"u1": "王会计"})
    assert (entry.category, entry.title, entry.actor) == ("loan", "借款人还款", "王会计")
    assert entry.lines == ["本金 100,000.00 元", "利息 512.50 元", "还款后余额 900,000.00 元"]
    assert describe(event, "en", {}).lines[0] == "Principal ¥100,000.00"


async def test_plugin_results_show_on_the_newest_page_with_who_asked(desk: Desk) -> None:
    project = await new_project(desk)
    shown = (await desk.call("am", "GET", f"/projects/{project}")).json()

    async def ask() -> None:
        await PluginResult.create(
            plugin_id="sandbox.credit",
            operation="company_profile",
            request_hash="h" * 64,
            record_id=shown["record_id"],
            purpose="due_diligence",
            result="sealed",
            created_by=desk.id["am"],
        )

    await desk.db(ask)
    items = (await desk.call("am", "GET", f"/projects/{project}/timeline")).json()["items"]
    check = items[0]
    assert (check["category"], check["title"], check["actor"]) == (
        "check",
        "插件调用结果",
        "测试用户",
    )
    assert check["lines"] == ["sandbox.credit · company_profile"] and "sealed" not in str(items)
