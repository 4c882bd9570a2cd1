"""The runtime operations over HTTP on PostgreSQL, on guarantors of their own: claim and
unclaim, urge with its hourly limit, an administrator's jump, terminate and bulk
reassignment, standing proxies, batch approval, and the notification list (sent through
the messaging plug-in once the tenant enables one)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, Notification, WorkflowTask
from danbao.definitions import load_bundle
from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.provisioning import create_tenant
from danbao.tenancy.context import tenant_scope
from danbao.workdays import CHINA

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user, records_url


class Desk:
    """A guarantor made from the template, its people, and calls made as one of them."""

    def __init__(self, tenant: TenantFixture, make_client: ClientFactory) -> None:
        self.tenant = tenant
        self.make_client = make_client
        self.email: dict[str, str] = {"admin": tenant.admin_email}
        self.id: dict[str, str] = {}
        self.api = f"/t/{tenant.slug}/api"

    async def add(self, name: str, roles: list[str], department: str | None = None) -> None:
        email, uid = await new_user(self.tenant, roles, department)
        self.email[name], self.id[name] = email, str(uid)

    async def call(
        self, who: str, method: str, path: str, key: str | None = None, **kw: Any
    ) -> httpx.Response:
        async with self.make_client() as client:
            headers = {"X-CSRF-Token": await sign_in(client, self.tenant.slug, self.email[who])}
            if key is not None:
                headers["Idempotency-Key"] = key
            return await client.request(method, self.api + path, headers=headers, **kw)

    async def act(self, who: str, instance: str, key: str, **payload: Any) -> httpx.Response:
        return await self.call(who, "POST", f"/approvals/{instance}/actions", key=key, json=payload)

    async def start(self, amount: int = 1_000_000) -> dict[str, Any]:
        async with self.make_client() as client:
            headers = {"X-CSRF-Token": await sign_in(client, self.tenant.slug, self.email["am"])}
            slug = self.tenant.slug
            made = await client.post(
                records_url(slug), json={"data": {**VALID, "amount": amount}}, headers=headers
            )
            record = made.json()["id"]
            await client.post(records_url(slug, record, "submit"), headers=headers)
            started = await client.post(
                records_url(slug, record, "approval"),
                headers={**headers, "Idempotency-Key": f"start-{record}"},
            )
        assert started.status_code == 201, started.text
        body: dict[str, Any] = started.json()
        return body

    async def inbox(self, who: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.call(who, "GET", "/approvals/inbox")).json()[
            "items"
        ]
        return items

    async def notifications(self, who: str, **params: Any) -> dict[str, Any]:
        answer = await self.call(who, "GET", "/notifications", params=params)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def db(self, work: Any) -> Any:
        with tenant_scope(self.tenant.context):
            async with in_transaction():
                return await work()


def task_of(body: dict[str, Any], uid: str) -> dict[str, Any]:
    return next(t for t in body["instance"]["tasks"] if t["user"] == uid)


async def make_desk(make_client: ClientFactory, *, claim: bool = False) -> Desk:
    slug = f"ops{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    desk = Desk(TenantFixture(slug, tenant.id, f"admin@{slug}.test", ""), make_client)
    for name in ("am", "am2", "am3"):
        await desk.add(name, ["account_manager"], "business")
    for name in ("risk", "risk2"):
        await desk.add(name, ["risk_officer"], "risk")
    for n in range(1, 4):
        await desk.add(f"c{n}", ["committee_member"])
    await desk.add("gm", ["general_manager"])
    await desk.add("fin", ["finance"])
    await desk.add("newbie", ["legal"], "business")  # takes over tasks; in no pool
    if claim:
        files = load_bundle(TEMPLATE).to_dict()
        review = next(n for n in files["workflows/review.json"]["nodes"] if n["id"] == "am_review")
        review["claim"] = True  # the account managers are a pool: one claims (认领)
        published = await desk.call("admin", "POST", "/definitions/versions", json={"files": files})
        assert published.status_code == 201, published.text
    return desk


def clients(app: Starlette) -> ClientFactory:
    return lambda: httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )


@pytest.fixture(scope="module")
async def desk(app: Starlette) -> Desk:
    return await make_desk(clients(app))


@pytest.fixture(scope="module")
async def pool(app: Starlette) -> Desk:
    return await make_desk(clients(app), claim=True)


# --- claim (认领) -------------------------------------------------------------------------------


async def test_claim_and_unclaim_over_http(pool: Desk) -> None:
    body = await pool.start()
    instance = body["instance"]["id"]
    assert {(t["user"], t["kind"]) for t in body["instance"]["tasks"]} == {
        (pool.id["am2"], "claim"),
        (pool.id["am3"], "claim"),
    }
    mine = task_of(body, pool.id["am2"])
    theirs = task_of(body, pool.id["am3"])
    early = await pool.act("am3", instance, "early", op="approve", task=theirs["task"])
    assert early.status_code == 422 and "claim" in early.json()["error"]["message"]
    claimed = await pool.act("am2", instance, "claim-1", op="claim", task=mine["task"], version=1)
    assert claimed.status_code == 200, claimed.text
    assert [(t["user"], t["kind"], t["version"]) for t in claimed.json()["instance"]["tasks"]] == [
        (pool.id["am2"], "decide", 2)
    ]
    assert await pool.inbox("am3") == []
    late = await pool.act("am3", instance, "claim-2", op="claim", task=theirs["task"])
    assert late.status_code == 409  # the double click of the second claimer: already handled
    back = await pool.act("am2", instance, "unclaim-1", op="unclaim", task=mine["task"])
    assert back.status_code == 200, back.text
    assert [i["kind"] for i in await pool.inbox("am3")] == ["claim"]
    again = next(t for t in back.json()["instance"]["tasks"] if t["user"] == pool.id["am3"])
    await pool.act("am3", instance, "claim-3", op="claim", task=again["task"])
    done = await pool.act("am3", instance, "ok-3", op="approve", task=again["task"], version=2)
    assert done.status_code == 200, done.text
    assert {t["node"] for t in done.json()["instance"]["tasks"]} == {"risk_review"}


# --- urge (催办) -------------------------------------------------------------------------------


async def test_urge_notifies_and_is_limited_per_task(desk: Desk) -> None:
    body = await desk.start()
    instance = body["instance"]["id"]
    before = (await desk.notifications("am2"))["unread"]
    urged = await desk.act("am", instance, "urge-1", op="urge", comment="客户在等")
    assert urged.status_code == 200, urged.text
    assert urged.json()["instance"]["status"] == "running"
    listed = await desk.notifications("am2")
    assert listed["unread"] == before + 1
    assert (listed["items"][0]["kind"], listed["items"][0]["body"]) == ("urge", "客户在等")
    assert listed["items"][0]["instance"] == instance
    repeat = await desk.act("am", instance, "urge-1", op="urge", comment="客户在等")
    assert repeat.json() == urged.json()
    assert (await desk.notifications("am2"))["unread"] == before + 1  # nothing twice
    too_soon = await desk.act("am", instance, "urge-2", op="urge")
    assert too_soon.status_code == 429 and too_soon.json()["error"]["code"] == "too_soon"
    stranger = await desk.act("am2", instance, "urge-3", op="urge")
    assert stranger.status_code == 403

    async def an_hour_ago() -> None:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=61)
        await WorkflowTask.filter(instance_id=instance).update(urged_at=past)

    await desk.db(an_hour_ago)
    later = await desk.act("am", instance, "urge-4", op="urge")
    assert later.status_code == 200, later.text


# --- an administrator's jump and terminate (跳转 / 终止) ----------------------------------------


async def test_jump_and_terminate_by_an_administrator(desk: Desk) -> None:
    body = await desk.start()
    instance = body["instance"]["id"]
    jump = {"op": "jump", "node": "gm_approval", "comment": "总经理特批"}
    refused = await desk.act("am2", instance, "jump-0", **jump)
    assert refused.status_code == 403
    no_reason = await desk.act("admin", instance, "jump-1", op="jump", node="gm_approval")
    assert no_reason.status_code == 422
    shown = await desk.call("admin", "GET", f"/approvals/{instance}")
    assert shown.status_code == 200  # an approvals administrator sees any approval
    jumped = await desk.act("admin", instance, "jump-2", **jump)
    assert jumped.status_code == 200, jumped.text
    assert [t["user"] for t in jumped.json()["instance"]["tasks"]] == [desk.id["gm"]]
    assert await desk.inbox("am2") == [] or all(
        i["instance"] != instance for i in await desk.inbox("am2")
    )
    ended = await desk.act("admin", instance, "end-1", op="terminate", comment="客户撤回项目")
    assert ended.status_code == 200 and ended.json()["instance"]["status"] == "terminated"
    after = await desk.act("admin", instance, "end-2", op="terminate", comment="再次")
    assert after.status_code == 409
    told = (await desk.notifications("am"))["items"]
    assert any(n["kind"] == "finished" and n["params"]["status"] == "terminated" for n in told)

    async def trail() -> list[str]:
        rows = await AuditEvent.filter(object_id=instance).order_by("seq")
        return [row.action for row in rows]

    actions = await desk.db(trail)
    assert actions[-2:] == ["workflow.jump", "workflow.terminate"]


# --- proxies (代理) ----------------------------------------------------------------------------


async def test_a_proxy_receives_the_new_tasks_while_named(desk: Desk) -> None:
    today = dt.datetime.now(CHINA).date()
    leave = {
        "proxy": desk.email["fin"],
        "starts_on": today.isoformat(),
        "ends_on": (today + dt.timedelta(days=3)).isoformat(),
    }
    named = await desk.call("risk", "POST", "/approvals/proxies", json=leave)
    assert named.status_code == 201, named.text
    again = await desk.call("risk", "POST", "/approvals/proxies", json=leave)
    assert again.status_code == 200 and again.json()["id"] == named.json()["id"]
    overlap = await desk.call(
        "risk", "POST", "/approvals/proxies", json={**leave, "proxy": desk.email["gm"]}
    )
    assert overlap.status_code == 422
    assert overlap.json()["error"]["details"][0]["pointer"] == "/starts_on"
    backwards = await desk.call(
        "risk", "POST", "/approvals/proxies", json={**leave, "ends_on": "2020-01-01"}
    )
    assert backwards.json()["error"]["details"][0]["pointer"] == "/ends_on"
    for_other = await desk.call(
        "am2", "POST", "/approvals/proxies", json={**leave, "user": desk.email["risk2"]}
    )
    assert for_other.status_code == 403
    listed = (await desk.call("fin", "GET", "/approvals/proxies")).json()["items"]
    assert [p["user"] for p in listed] == [desk.id["risk"]]

    body = await desk.start()
    instance = body["instance"]["id"]
    passed = await desk.act(
        "am2", instance, "px-1", op="approve", task=task_of(body, desk.id["am2"])["task"]
    )
    tasks = passed.json()["instance"]["tasks"]
    assert {t["user"] for t in tasks} == {desk.id["fin"], desk.id["risk2"]}
    proxied = next(f for f in passed.json()["facts"] if f["fact"] == "proxied")
    assert (proxied["user"], proxied["proxy"]) == (desk.id["risk"], desk.id["fin"])
    fin_item = next(i for i in await desk.inbox("fin") if i["instance"] == instance)
    assert fin_item["why"].startswith(f"proxy for {desk.id['risk']}")
    # The proxy transfers the seat on (转办 during a proxy): the general manager decides.
    moved = await desk.act(
        "fin", instance, "px-2", op="transfer", task=fin_item["task"], to=desk.email["gm"]
    )
    assert moved.status_code == 200, moved.text
    assert desk.id["gm"] in {t["user"] for t in moved.json()["instance"]["tasks"]}

    revoked = await desk.call("fin", "DELETE", f"/approvals/proxies/{named.json()['id']}")
    assert revoked.status_code == 404  # only its owner (or an administrator) revokes it
    revoked = await desk.call("risk", "DELETE", f"/approvals/proxies/{named.json()['id']}")
    assert revoked.status_code == 204
    body = await desk.start()
    passed = await desk.act(
        "am2",
        body["instance"]["id"],
        "px-3",
        op="approve",
        task=task_of(body, desk.id["am2"])["task"],
    )
    assert {t["user"] for t in passed.json()["instance"]["tasks"]} == {
        desk.id["risk"],
        desk.id["risk2"],
    }


# --- batch approval (批量审批) -------------------------------------------------------------------


async def test_batch_approve_answers_each_item(desk: Desk) -> None:
    firsts = [await desk.start() for _ in range(3)]
    items = [
        {
            "instance": body["instance"]["id"],
            "task": task_of(body, desk.id["am3"])["task"],
            "version": 1,
            "key": f"batch-{n}",
            "comment": "批量同意",
        }
        for n, body in enumerate(firsts)
    ]
    items[1]["version"] = 7  # stale: fails alone
    items.append({"instance": str(uuid.uuid4()), "task": "t1", "key": "batch-x"})
    answer = await desk.call("am3", "POST", "/approvals/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["ok"], r["status"]) for r in results] == [
        (True, 200),
        (False, 409),
        (True, 200),
        (False, 404),
    ]
    assert answer.json()["approved"] == 2 and answer.json()["failed"] == 2
    again = await desk.call("am3", "POST", "/approvals/batch", json={"items": items})
    assert [(r["ok"], r["status"]) for r in again.json()["results"]] == [
        (True, 200),
        (False, 409),
        (True, 200),
        (False, 404),
    ]
    shown = await desk.call("am", "GET", f"/approvals/{items[0]['instance']}")
    assert [h["op"] for h in shown.json()["history"]] == ["start", "approve"]  # once only
    unchanged = await desk.call("am", "GET", f"/approvals/{items[1]['instance']}")
    assert [h["op"] for h in unchanged.json()["history"]] == ["start"]
    bad = await desk.call("am3", "POST", "/approvals/batch", json={"items": [{"task": "t1"}]})
    assert bad.status_code == 400 and "/items/0" in bad.json()["error"]["message"]


# --- bulk reassignment (离职转办) ---------------------------------------------------------------


async def test_bulk_reassignment_moves_every_live_task(pool: Desk) -> None:
    bodies = [await pool.start() for _ in range(2)]
    # am2 claims the first: from then on only they hold it.
    first = bodies[0]["instance"]["id"]
    claim = task_of(bodies[0], pool.id["am2"])
    await pool.act("am2", first, "rc-1", op="claim", task=claim["task"])
    held = {i["instance"] for i in await pool.inbox("am2")}
    assert {b["instance"]["id"] for b in bodies} <= held
    request = {"from": pool.email["am2"], "to": pool.email["newbie"], "comment": "离职交接"}
    refused = await pool.call("am2", "POST", "/approvals/reassign", key="mv-1", json=request)
    assert refused.status_code == 403
    moved = await pool.call("admin", "POST", "/approvals/reassign", key="mv-1", json=request)
    assert moved.status_code == 200, moved.text
    assert len(moved.json()["moved"]) == len(held) and moved.json()["failed"] == []
    assert await pool.inbox("am2") == []
    assert {i["instance"] for i in await pool.inbox("newbie")} >= held
    repeat = await pool.call("admin", "POST", "/approvals/reassign", key="mv-1", json=request)
    assert repeat.json()["moved"] == []  # nothing moves twice

    async def events() -> int:
        return await AuditEvent.filter(action="workflow.reassign").count()

    assert await pool.db(events) == len(held)
    # newbie now holds am2's claim task beside am3's in the second approval: moving am3's
    # there to newbie too fails for that task alone, with the reason.
    request = {"from": pool.email["am3"], "to": pool.email["newbie"]}
    partial = await pool.call("admin", "POST", "/approvals/reassign", key="mv-2", json=request)
    failed = partial.json()["failed"]
    assert bodies[1]["instance"]["id"] in {f["instance"] for f in failed}
    assert {f["status"] for f in failed} == {422}
    unknown = await pool.call(
        "admin", "POST", "/approvals/reassign", key="mv-3", json={"from": "x@y.z", "to": "a@b.c"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["pointer"] == "/from"


# --- the notification list, and the messaging plug-in ------------------------------------------


async def test_notifications_listed_marked_read_and_sent_through_the_plugin(desk: Desk) -> None:
    body = await desk.start()
    listed = await desk.notifications("am3", unread="1")
    assert listed["unread"] >= 1
    newest = listed["items"][0]
    assert newest["kind"] == "task" and newest["instance"] == body["instance"]["id"]
    assert newest["title"] == "审批待办：客户经理初审" and newest["delivery"] == "none"
    # Someone else's ids mark nothing.
    other = await desk.call("am2", "POST", "/notifications/read", json={"ids": [newest["id"]]})
    assert other.json() == {"marked": 0}
    mine = await desk.call("am3", "POST", "/notifications/read", json={"ids": [newest["id"]]})
    assert mine.json() == {"marked": 1}
    assert (await desk.notifications("am3"))["unread"] == listed["unread"] - 1
    everything = await desk.call("am3", "POST", "/notifications/read", json={"all": True})
    assert everything.json()["marked"] == listed["unread"] - 1
    assert (await desk.notifications("am3"))["unread"] == 0
    bad = await desk.call("am3", "POST", "/notifications/read", json={"ids": ["nope"]})
    assert bad.status_code == 400

    enabled = await desk.call(
        "admin", "PUT", "/plugins/sandbox.messaging", json={"settings": {"sender": "担保云"}}
    )
    assert enabled.status_code == 200, enabled.text
    SandboxMessaging.outbox.clear()
    body = await desk.start()
    sent = [(m.recipients, m.title) for _, m in SandboxMessaging.outbox]
    assert ((desk.email["am3"],), "审批待办：客户经理初审") in sent
    assert ((desk.email["am2"],), "审批待办：客户经理初审") in sent
    newest = (await desk.notifications("am3"))["items"][0]
    assert newest["instance"] == body["instance"]["id"] and newest["delivery"] == "sent"

    async def rows() -> list[str]:
        found = await Notification.filter(instance_id=body["instance"]["id"])
        return [row.delivery for row in found]

    assert set(await desk.db(rows)) == {"sent"}


async def test_openapi_documents_the_operations(desk: Desk) -> None:
    document = (await desk.call("am", "GET", "/openapi.json")).json()
    for path in (
        "/approvals/batch",
        "/approvals/reassign",
        "/approvals/proxies",
        "/approvals/proxies/{proxy_id}",
        "/notifications",
        "/notifications/read",
    ):
        assert "/t/{slug}/api" + path in document["paths"], path
