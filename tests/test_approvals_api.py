"""Approvals over HTTP, on a guarantor of its own made from the starter template: a
record is submitted, its approval started, acted on by each approver in turn through
their inbox, with repeats, stale versions and strangers answered clearly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from danbao.provisioning import create_tenant

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user, records_url


class Staff:
    def __init__(self, tenant: TenantFixture) -> None:
        self.tenant = tenant
        self.email: dict[str, str] = {}
        self.id: dict[str, str] = {}

    async def add(self, name: str, roles: list[str], department: str | None = None) -> None:
        email, uid = await new_user(self.tenant, roles, department)
        self.email[name], self.id[name] = email, str(uid)


@pytest.fixture(scope="module")
async def staff(app: Starlette) -> Staff:
    slug = f"apr{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    made = Staff(TenantFixture(slug, tenant.id, f"admin@{slug}.test", ""))
    await made.add("am", ["account_manager"], "business")
    await made.add("am2", ["account_manager"], "business")
    await made.add("risk", ["risk_officer"], "risk")
    for n in range(1, 4):
        await made.add(f"c{n}", ["committee_member"])
    await made.add("gm", ["general_manager"])
    await made.add("fin", ["finance"])
    await made.add("nobody", [])
    return made


@asynccontextmanager
async def client_for(
    make_client: ClientFactory, staff: Staff, name: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with make_client() as client:
        csrf = await sign_in(client, staff.tenant.slug, staff.email[name])
        yield client, {"X-CSRF-Token": csrf}


async def submitted_record(
    client: httpx.AsyncClient, headers: dict[str, str], slug: str, amount: int
) -> str:
    made = await client.post(
        records_url(slug), json={"data": {**VALID, "amount": amount}}, headers=headers
    )
    assert made.status_code == 201, made.text
    record = made.json()["id"]
    submitted = await client.post(records_url(slug, record, "submit"), headers=headers)
    assert submitted.status_code == 200, submitted.text
    return record


def task_for(body: dict[str, Any], uid: str) -> dict[str, Any]:
    return next(t for t in body["instance"]["tasks"] if t["user"] == uid)


async def test_from_submit_to_approved_over_http(make_client: ClientFactory, staff: Staff) -> None:
    slug = staff.tenant.slug
    api = f"/t/{slug}/api"
    async with client_for(make_client, staff, "am") as (am, am_headers):
        record = await submitted_record(am, am_headers, slug, 6_000_000)
        start_url = records_url(slug, record, "approval")
        missing_key = await am.post(start_url, headers=am_headers)
        assert missing_key.status_code == 400
        started = await am.post(start_url, headers={**am_headers, "Idempotency-Key": "s-1"})
        assert started.status_code == 201, started.text
        again = await am.post(start_url, headers={**am_headers, "Idempotency-Key": "s-1"})
        assert again.json() == started.json()
        second = await am.post(start_url, headers={**am_headers, "Idempotency-Key": "s-2"})
        assert second.status_code == 409
    body = started.json()
    instance = body["instance"]["id"]
    # The submitter is an account manager too: self-approval is forbidden, so only am2.
    assert [t["user"] for t in body["instance"]["tasks"]] == [staff.id["am2"]]
    excluded = [f for f in body["facts"] if f["fact"] == "excluded"]
    assert excluded and excluded[0]["user"] == staff.id["am"]

    async def act(name: str, key: str, **payload: Any) -> httpx.Response:
        async with client_for(make_client, staff, name) as (client, headers):
            return await client.post(
                f"{api}/approvals/{instance}/actions",
                json=payload,
                headers={**headers, "Idempotency-Key": key},
            )

    async with client_for(make_client, staff, "am2") as (client, _):
        inbox = (await client.get(f"{api}/approvals/inbox")).json()["items"]
    assert [(i["instance"], i["node"]) for i in inbox] == [(instance, "am_review")]
    task = inbox[0]

    stale = await act("am2", "a-0", op="approve", task=task["task"], version=task["version"] + 1)
    assert stale.status_code == 409
    assert stale.json()["current"]["tasks"][0]["version"] == task["version"]
    wrong = await act("risk", "a-x", op="approve", task=task["task"])
    assert wrong.status_code == 403  # may read the chain, but the task is someone else's
    stranger = await act("nobody", "n-1", op="approve", task=task["task"])
    assert stranger.status_code == 404  # neither part of it nor allowed to read it
    done = await act("am2", "a-1", op="approve", task=task["task"], version=task["version"])
    assert done.status_code == 200, done.text
    assert (
        await act("am2", "a-1", op="approve", task=task["task"], version=task["version"])
    ).json() == done.json()
    reused = await act("am2", "a-1", op="reject", task=task["task"])
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"

    body = done.json()
    risk_task = task_for(body, staff.id["risk"])
    body = (await act("risk", "r-1", op="approve", task=risk_task["task"], version=1)).json()
    routed = next(f for f in body["facts"] if f["fact"] == "routed")
    assert routed["to"] == ["committee"]
    assert routed["checked"][0]["values"] == {"amount": 6000000}
    for name in ("c1", "c2"):
        body = (
            await act(name, f"{name}-1", op="approve", task=task_for(body, staff.id[name])["task"])
        ).json()
    assert {t["node"] for t in body["instance"]["tasks"]} == {"committee"}
    body = (
        await act("c3", "c3-1", op="approve", task=task_for(body, staff.id["c3"])["task"])
    ).json()
    gm_task = task_for(body, staff.id["gm"])
    body = (await act("gm", "g-1", op="approve", task=gm_task["task"], comment="同意")).json()
    assert body["instance"]["status"] == "approved"
    assert any(f["fact"] == "copied" and f["user"] == staff.id["fin"] for f in body["facts"])
    late = await act("gm", "g-2", op="approve", task=gm_task["task"])
    assert late.status_code == 409

    async with client_for(make_client, staff, "am") as (am, _):
        shown = await am.get(f"{api}/approvals/{instance}")
    assert shown.status_code == 200
    ops = [h["op"] for h in shown.json()["history"]]
    assert ops == ["start", "approve", "approve", "approve", "approve", "approve", "approve"]
    async with client_for(make_client, staff, "nobody") as (stranger, _):
        assert (await stranger.get(f"{api}/approvals/{instance}")).status_code == 404


async def test_return_to_the_submitter_and_resubmit(
    make_client: ClientFactory, staff: Staff
) -> None:
    slug = staff.tenant.slug
    api = f"/t/{slug}/api"
    async with client_for(make_client, staff, "am") as (am, headers):
        record = await submitted_record(am, headers, slug, 1_000_000)
        started = await am.post(
            records_url(slug, record, "approval"), headers={**headers, "Idempotency-Key": "s-3"}
        )
    instance = started.json()["instance"]["id"]
    task = task_for(started.json(), staff.id["am2"])
    async with client_for(make_client, staff, "am2") as (client, headers):
        returned = await client.post(
            f"{api}/approvals/{instance}/actions",
            json={"op": "return", "task": task["task"], "to": "submitter", "comment": "补充材料"},
            headers={**headers, "Idempotency-Key": "ret-1"},
        )
        unknown = await client.post(
            f"{api}/approvals/{instance}/actions",
            json={"op": "explode"},
            headers={**headers, "Idempotency-Key": "ret-2"},
        )
    assert returned.status_code == 200 and returned.json()["instance"]["status"] == "returned"
    assert unknown.status_code in (409, 422)
    async with client_for(make_client, staff, "am2") as (client, headers):
        crowd = await client.post(
            f"{api}/approvals/{instance}/actions",
            json={"op": "add_signer", "users": [f"u{i}@x.test" for i in range(21)]},
            headers={**headers, "Idempotency-Key": "crowd"},
        )
        not_mine = await client.post(
            records_url(slug, record, "approval"), headers={**headers, "Idempotency-Key": "nm"}
        )
    assert crowd.status_code == 400
    assert not_mine.status_code in (403, 404)  # not the submitter (or not in their scope)
    async with client_for(make_client, staff, "am") as (am, headers):
        again = await am.post(
            f"{api}/approvals/{instance}/actions",
            json={"op": "resubmit"},
            headers={**headers, "Idempotency-Key": "re-1"},
        )
    assert again.status_code == 200, again.text
    assert [t["node"] for t in again.json()["instance"]["tasks"]] == ["am_review"]


async def test_openapi_documents_the_approval_routes(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        document = (await client.get("/t/alpha/api/openapi.json")).json()
    paths = document["paths"]
    assert "/t/{slug}/api/approvals/{instance_id}/actions" in paths
    assert "/t/{slug}/api/forms/{form_id}/records/{record_id}/approval" in paths
    assert "/t/{slug}/api/approvals/inbox" in paths


async def test_the_simulator_names_route_and_approvers(
    make_client: ClientFactory, staff: Staff
) -> None:
    slug = staff.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, staff.tenant.admin_email)
        answer = await client.post(
            f"/t/{slug}/api/approvals/simulate",
            json={"data": {"amount": 5_000_001}, "department": "business"},
            headers={"X-CSRF-Token": csrf},
        )
    assert answer.status_code == 200, answer.text
    sim = answer.json()
    assert sim["status"] == "approved"
    assert [n["node"] for n in sim["nodes"]] == [
        "am_review",
        "risk_review",
        "committee",
        "gm_approval",
    ]
    routed = next(r for r in sim["route"] if r["fact"] == "routed")
    assert routed["checked"][0]["values"] == {"amount": 5000001}
    committee = next(n for n in sim["nodes"] if n["node"] == "committee")
    assert len(committee["assigned"]) == 3
    async with client_for(make_client, staff, "am") as (client, headers):
        refused = await client.post(
            f"/t/{slug}/api/approvals/simulate", json={"data": {}}, headers=headers
        )
    assert refused.status_code == 403


async def test_the_last_approval_moves_the_project_or_nothing_moves(
    make_client: ClientFactory, staff: Staff, pg_owner: asyncpg.Connection
) -> None:
    """Over HTTP: the general manager's approval ends the chain and approves the project in
    the same request; when the project cannot follow (a stale state: its last move stamped
    after the approval would end), the request answers 409 approval_project_refused and the
    approval, the task and the project are all as they were (the web layer commits a
    refusal it answers, so this one must roll back)."""
    slug = staff.tenant.slug
    api = f"/t/{slug}/api"
    async with client_for(make_client, staff, "am") as (am, headers):
        record = await submitted_record(am, headers, slug, 1_000_000)
        made = await am.post(f"{api}/projects", json={"record_id": record}, headers=headers)
        assert made.status_code == 201, made.text
        pid, version = made.json()["id"], made.json()["version"]
        for event in ("accept", "start_due_diligence", "submit_for_review"):
            moved = await am.post(
                f"{api}/projects/{pid}/events/{event}", json={"version": version}, headers=headers
            )
            assert moved.status_code == 200, moved.text
            version = moved.json()["project"]["version"]
        started = await am.post(
            records_url(slug, record, "approval"), headers={**headers, "Idempotency-Key": "p-0"}
        )
        assert started.status_code == 201, started.text
    body = started.json()
    instance = body["instance"]["id"]

    async def act(name: str, key: str, **payload: Any) -> httpx.Response:
        async with client_for(make_client, staff, name) as (client, headers):
            return await client.post(
                f"{api}/approvals/{instance}/actions",
                json=payload,
                headers={**headers, "Idempotency-Key": key},
            )

    body = (
        await act("am2", "p-1", op="approve", task=task_for(body, staff.id["am2"])["task"])
    ).json()
    body = (
        await act("risk", "p-2", op="approve", task=task_for(body, staff.id["risk"])["task"])
    ).json()
    gm_task = task_for(body, staff.id["gm"])["task"]

    await pg_owner.execute(
        "UPDATE project SET updated_at = now() + interval '1 day' WHERE id = $1", uuid.UUID(pid)
    )
    refused = await act("gm", "p-3", op="approve", task=gm_task)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "approval_project_refused"
    async with client_for(make_client, staff, "gm") as (gm, _):
        shown = (await gm.get(f"{api}/approvals/{instance}")).json()
        project = (await gm.get(f"{api}/projects/{pid}")).json()
    assert shown["instance"]["status"] == "running"
    assert [t["task"] for t in shown["instance"]["tasks"]] == [gm_task]
    assert (project["state"]["code"], project["version"]) == ("UNDER_REVIEW", version)

    await pg_owner.execute("UPDATE project SET updated_at = now() WHERE id = $1", uuid.UUID(pid))
    done = await act("gm", "p-3", op="approve", task=gm_task)  # the same key: nothing stored
    assert done.status_code == 200, done.text
    assert done.json()["instance"]["status"] == "approved"
    async with client_for(make_client, staff, "gm") as (gm, _):
        project = (await gm.get(f"{api}/projects/{pid}")).json()
    assert (project["state"]["code"], project["version"]) == ("APPROVED", version + 1)
