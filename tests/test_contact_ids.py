"""WeCom notifications reach people by their WeCom user id (app) or mobile (robot): contact
ids set by the administrator (the mobile sealed, shown masked, never in a log or the audit
trail), a user without the id the channel wants marked failed with why, a resend once it
is filled in, and never anyone of another tenant."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, Notification, User
from danbao.plugins.catalog import installed
from danbao.plugins.sdk import Recipient
from danbao.tenancy.context import tenant_scope
from danbao.workflow.deliver import deliver

from .conftest import TenantFixture, sign_in
from .records_helpers import new_user
from .test_approvals_operations import Desk, clients, make_desk
from .test_plugins_messaging import CORP, ROBOT_KEY, SECRET, FakeWeCom, serve_wecom
from .test_tickets import new_project, open_ticket

MOBILE = "13912340001"


@pytest.fixture(scope="module")
async def desk(app: Starlette) -> Desk:
    return await make_desk(clients(app))


@pytest.fixture(scope="module")
async def wecom() -> AsyncIterator[FakeWeCom]:
    async with serve_wecom() as fake:
        yield fake


async def enable(desk: Desk, plugin: str, settings: dict[str, Any], on: bool = True) -> None:
    answer = await desk.call(
        "admin", "PUT", f"/plugins/{plugin}", json={"settings": settings, "enabled": on}
    )
    assert answer.status_code == 200, answer.text


def app_settings(fake: FakeWeCom) -> dict[str, Any]:
    return {"corp_id": CORP, "corp_secret": SECRET, "agent_id": 1000002, "base_url": fake.base}


async def contacts(desk: Desk, who: str, **ids: Any) -> dict[str, Any]:
    answer = await desk.call("admin", "PATCH", f"/users/{desk.id[who]}", json=ids)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_channels_say_which_identifier_they_want() -> None:
    plugins = installed()
    assert plugins["wecom.app"].recipient is Recipient.WECOM_USERID
    assert plugins["wecom.robot"].recipient is Recipient.MOBILE
    assert plugins["dingtalk.robot"].recipient is Recipient.MOBILE
    assert plugins["email.smtp"].recipient is Recipient.EMAIL
    assert plugins["sandbox.messaging"].recipient is Recipient.EMAIL


async def test_contact_ids_are_checked_and_nothing_half_applied(desk: Desk) -> None:
    bad = await desk.call(
        "admin",
        "PATCH",
        f"/users/{desk.id['fin']}",
        json={"roles": ["legal"], "wecom_userid": "李 晓梅", "mobile": "12345"},
    )
    assert bad.status_code == 422
    pointers = {d["pointer"] for d in bad.json()["error"]["details"]}
    assert pointers == {"/wecom_userid", "/mobile"}
    listed = (await desk.call("admin", "GET", "/users", params={"per_page": 200})).json()
    fin = next(u for u in listed["items"] if u["id"] == desk.id["fin"])
    assert fin["roles"] == ["finance"] and fin["wecom_userid"] is None and fin["mobile"] is None


async def test_app_messages_reach_the_assignee_by_wecom_id_and_resend_after_filling_in(
    desk: Desk, wecom: FakeWeCom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown = await contacts(desk, "am2", wecom_userid="LiXiaoMei", mobile=f"+86 {MOBILE}")
    assert shown["wecom_userid"] == "LiXiaoMei" and shown["mobile"] == "139****0001"
    await enable(desk, "wecom.app", app_settings(wecom))
    wecom.app_sent.clear()

    # An approval task: am2 has an id, am3 has none.
    body = await desk.start()
    assert [m["touser"] for m in wecom.app_sent] == ["LiXiaoMei"]
    assert "客户经理初审" in wecom.app_sent[0]["text"]["content"]
    mine = (await desk.notifications("am2"))["items"][0]
    assert mine["instance"] == body["instance"]["id"] and mine["delivery"] == "sent"
    theirs = (await desk.notifications("am3"))["items"][0]
    assert (theirs["delivery"], theirs["delivery_error"]) == ("failed", "no_wecom_userid")

    # A ticket given to am2 reaches them on WeCom too.
    ticket = await open_ticket(desk, "am", await new_project(desk))
    path = f"/tickets/{ticket['id']}/assign"
    given = await desk.call("gm", "POST", path, json={"assignee_id": desk.id["am2"], "version": 1})
    assert given.status_code == 200, given.text
    assert wecom.app_sent[-1]["touser"] == "LiXiaoMei"
    assert ticket["number"] in wecom.app_sent[-1]["text"]["content"]
    assert (await desk.notifications("am2"))["items"][0]["delivery"] == "sent"

    # Filled in, the failed one goes out on a resend; only administrators may ask.
    refused = await desk.call("am3", "POST", "/notifications/resend", json={"days": 7})
    assert refused.status_code == 403
    await contacts(desk, "am3", wecom_userid="WangLei")
    before = len(wecom.app_sent)
    bad = await desk.call("admin", "POST", "/notifications/resend", json={"days": 0})
    assert bad.status_code == 400 and len(wecom.app_sent) == before
    resent = await desk.call("admin", "POST", "/notifications/resend", json={"days": 7})
    assert resent.status_code == 200 and resent.json()["resending"] >= 1
    assert "WangLei" in [m["touser"] for m in wecom.app_sent[before:]]
    again = (await desk.notifications("am3"))["items"][0]
    assert again["id"] == theirs["id"]
    assert (again["delivery"], again["delivery_error"]) == ("sent", None)
    # Nothing failed is left to resend: a second resend sends nothing twice.
    twice = await desk.call("admin", "POST", "/notifications/resend", json={})
    assert twice.json()["resending"] == 0

    # An id WeCom does not know comes back rejected and is marked so.
    await contacts(desk, "am2", wecom_userid="gone-LiXiaoMei")
    await desk.start()
    rejected = (await desk.notifications("am2"))["items"][0]
    assert (rejected["delivery"], rejected["delivery_error"]) == ("failed", "rejected")
    await contacts(desk, "am2", wecom_userid="LiXiaoMei")

    # The mobile was never written in clear: not in a log line, not in the audit trail.
    assert MOBILE not in caplog.text

    async def audit() -> list[Any]:
        return list(await AuditEvent.filter().values_list("data", flat=True))

    trail = str(await desk.db(audit))
    assert MOBILE not in trail and "[changed]" in trail and "LiXiaoMei" in trail

    async def stored() -> Any:
        return await User.get(id=desk.id["am2"])

    user = await desk.db(stored)
    assert user.mobile_sealed and MOBILE not in user.mobile_sealed
    await enable(desk, "wecom.app", app_settings(wecom), on=False)


async def test_the_robot_mentions_the_assignees_mobile(desk: Desk, wecom: FakeWeCom) -> None:
    await contacts(desk, "am2", mobile=MOBILE)
    await contacts(desk, "am3", mobile=None)  # cleared: fails with no_mobile
    await enable(desk, "wecom.robot", {"key": ROBOT_KEY, "base_url": wecom.base})
    wecom.robot_sent.clear()
    await desk.start()
    mentioned = [m["text"]["mentioned_mobile_list"] for m in wecom.robot_sent]
    assert mentioned == [[MOBILE]]
    theirs = (await desk.notifications("am3"))["items"][0]
    assert (theirs["delivery"], theirs["delivery_error"]) == ("failed", "no_mobile")
    listed = (await desk.call("admin", "GET", "/users", params={"per_page": 200})).json()
    assert MOBILE not in str(listed)  # masked over the API
    await enable(desk, "wecom.robot", {"key": ROBOT_KEY, "base_url": wecom.base}, on=False)


async def test_a_user_of_another_tenant_cannot_be_targeted(
    app: Starlette, desk: Desk, wecom: FakeWeCom, tenants: dict[str, TenantFixture]
) -> None:
    _, foreign = await new_user(tenants["beta"], ["finance"])
    with tenant_scope(tenants["beta"].context):
        async with in_transaction():
            await User.filter(id=foreign).update(wecom_userid="Foreigner")
    # The users API of this tenant does not find them …
    edit = await desk.call("admin", "PATCH", f"/users/{foreign}", json={"wecom_userid": "X"})
    assert edit.status_code == 404
    # … a ticket cannot be given to them …
    ticket = await open_ticket(desk, "am", await new_project(desk))
    path = f"/tickets/{ticket['id']}/assign"
    given = await desk.call("gm", "POST", path, json={"assignee_id": str(foreign), "version": 1})
    assert given.status_code == 422
    assert given.json()["error"]["details"][0]["pointer"] == "/assignee_id"
    # … and the database refuses a notification naming them (the tenancy walls' keys).

    async def write() -> None:
        await Notification.create(user_id=foreign, kind="task", title="越权", delivery="pending")

    with pytest.raises(IntegrityError):
        await desk.db(write)
    # A pending notification whose user is not found in the tenant fails, sends nothing.
    await enable(desk, "wecom.app", app_settings(wecom))

    async def pending() -> str:
        row = await Notification.create(
            user_id=desk.id["fin"], kind="task", title="测试", delivery="pending"
        )
        await User.filter(id=desk.id["fin"]).update(wecom_userid="Finance")
        return str(row.id)

    notification = await desk.db(pending)
    wecom.app_sent.clear()
    with tenant_scope(tenants["beta"].context):  # another tenant's context sees no such row
        assert await deliver(app.state.services.plugins, [notification]) == {"sent": 0, "failed": 0}
    assert wecom.app_sent == []
    with tenant_scope(desk.tenant.context):
        counts = await deliver(app.state.services.plugins, [notification])
    assert counts == {"sent": 1, "failed": 0}
    assert [m["touser"] for m in wecom.app_sent] == ["Finance"]
    await enable(desk, "wecom.app", app_settings(wecom), on=False)


async def test_the_users_page_sets_and_shows_contact_ids_masked(desk: Desk) -> None:
    async with desk.make_client() as client:
        await sign_in(client, desk.tenant.slug, desk.email["admin"])
        base = f"/t/{desk.tenant.slug}/admin"
        page = await client.get(f"{base}/users")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": csrf, "roles": "legal", "department": "business", "active": "on"}
        url = f"{base}/users/{desk.id['newbie']}"
        bad = await client.post(url, data={**form, "roles": "finance", "mobile": "010-1234"})
        assert bad.status_code == 422 and "手机号码" in bad.text
        saved = await client.post(url, data={**form, "wecom_userid": "NewBie", "mobile": MOBILE})
        assert saved.status_code == 303
        page = await client.get(f"{base}/users")
        assert 'value="NewBie"' in page.text and "139****0001" in page.text
        assert MOBILE not in page.text
        # An empty mobile keeps the one on file; the checkbox removes it.
        await client.post(url, data={**form, "wecom_userid": "NewBie", "mobile": ""})
        assert "139****0001" in (await client.get(f"{base}/users")).text
        await client.post(url, data={**form, "wecom_userid": "", "mobile_clear": "on"})
        listed = (await client.get(f"/t/{desk.tenant.slug}/api/users?per_page=200")).json()
        newbie = next(u for u in listed["items"] if u["id"] == desk.id["newbie"])
        assert (newbie["roles"], newbie["wecom_userid"], newbie["mobile"]) == (
            ["legal"],
            None,
            None,
        )
        resent = await client.post(f"{base}/notifications/resend", data={"csrf_token": csrf})
        assert resent.status_code == 303 and "resent=" in resent.headers["location"]


async def test_a_user_is_created_with_contact_ids_or_not_at_all(desk: Desk) -> None:
    person = {
        "email": f"new-{desk.tenant.slug}@example.com",
        "name": "新同事",
        "password": "Danbao-test-2026!",
        "roles": ["legal"],
    }
    bad = await desk.call("admin", "POST", "/users", json={**person, "mobile": "1391234"})
    assert bad.status_code == 422
    assert [d["pointer"] for d in bad.json()["error"]["details"]] == ["/mobile"]
    made = await desk.call(
        "admin", "POST", "/users", json={**person, "wecom_userid": "XinTongShi", "mobile": MOBILE}
    )
    assert made.status_code == 201, made.text
    assert (made.json()["wecom_userid"], made.json()["mobile"]) == ("XinTongShi", "139****0001")
