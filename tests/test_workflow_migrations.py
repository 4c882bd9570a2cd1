"""Moving running approvals to a newer chain version, on PostgreSQL over HTTP: pinned until
moved, the dry run per approval, refusals naming the mapping entry, the run as a job
(each approval in its own transaction, audited, idempotent), another tenant's run is
not found, and an approver acting while the run moves their approval."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import (
    AuditEvent,
    WorkflowAction,
    WorkflowInstance,
    WorkflowTask,
    WorkflowTimer,
)
from danbao.definitions import Bundle, load_bundle
from danbao.definitions.versions import get_version
from danbao.jobs.worker import run_worker
from danbao.provisioning import create_tenant
from danbao.tenancy.context import tenant_scope
from danbao.workflow import Action, migrations
from danbao.workflow.store import Repinned, act_on

from .conftest import PASSWORD, REDIS_URL, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .test_approvals_api import Staff, client_for, submitted_record

TEMPLATE_FILES = load_bundle(TEMPLATE).to_dict()


def version_two() -> dict[str, Any]:
    """risk_review is renamed risk_check, and a legal review follows it (not yet reached)."""
    files = copy.deepcopy(TEMPLATE_FILES)
    chain = files["workflows/review.json"]
    nodes = chain["nodes"]
    for node in nodes:
        if node["id"] == "am_review":
            node["next"] = "risk_check"
        if node["id"] == "risk_review":
            node["id"], node["next"] = "risk_check", "legal_review"
    at = next(i for i, n in enumerate(nodes) if n["id"] == "risk_check") + 1
    nodes.insert(
        at,
        {
            "id": "legal_review",
            "type": "approve",
            "name": {"zh-CN": "法务审查", "en": "Legal review"},
            "assignee": {"role": "legal"},
            "next": "by_amount",
        },
    )
    return files


@pytest.fixture(scope="module")
async def staff(app: Starlette) -> Staff:
    slug = f"wfm{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    made = Staff(TenantFixture(slug, tenant.id, f"admin@{slug}.test", ""))
    await made.add("am", ["account_manager"], "business")
    await made.add("am2", ["account_manager"], "business")
    await made.add("risk", ["risk_officer"], "risk")
    await made.add("legal", ["legal"], "legal")
    for n in range(1, 4):
        await made.add(f"c{n}", ["committee_member"])
    await made.add("gm", ["general_manager"])
    await made.add("nobody", [])
    return made


def api(staff: Staff, *parts: str) -> str:
    return "/".join([f"/t/{staff.tenant.slug}/api", *parts])


async def start(make_client: ClientFactory, staff: Staff, amount: int = 6_000_000) -> str:
    async with client_for(make_client, staff, "am") as (am, headers):
        record = await submitted_record(am, headers, staff.tenant.slug, amount)
        started = await am.post(
            api(staff, "forms/application/records", record, "approval"),
            headers={**headers, "Idempotency-Key": f"start-{record}"},
        )
    assert started.status_code == 201, started.text
    return str(started.json()["instance"]["id"])


async def act(
    make_client: ClientFactory, staff: Staff, name: str, instance: str, op: str = "approve"
) -> httpx.Response:
    async with client_for(make_client, staff, name) as (client, headers):
        shown = (await client.get(api(staff, "approvals", instance))).json()
        task = next(t for t in shown["instance"]["tasks"] if t["user"] == staff.id[name])
        return await client.post(
            api(staff, "approvals", instance, "actions"),
            json={"op": op, "task": task["task"], "version": task["version"]},
            headers={**headers, "Idempotency-Key": f"{op}-{task['task']}-{instance}"},
        )


async def shown(make_client: ClientFactory, staff: Staff, instance: str) -> dict[str, Any]:
    async with client_for(make_client, staff, "am") as (client, _):
        answer = await client.get(api(staff, "approvals", instance))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def in_tenant(staff: Staff, work: Any) -> Any:
    with tenant_scope(staff.tenant.context):
        async with in_transaction():
            return await work()


_PUBLISHED: dict[str, dict[str, str]] = {}


@pytest.fixture
async def published(app: Starlette, make_client: ClientFactory, staff: Staff) -> dict[str, str]:
    """Three approvals on version 1 (one still at am_review, two at risk_review), then
    version 2 published; made once for the module's tenant."""
    if staff.tenant.slug in _PUBLISHED:
        return _PUBLISHED[staff.tenant.slug]
    instances = {"fresh": await start(make_client, staff)}
    for name in ("advanced", "pinned"):
        instances[name] = await start(make_client, staff)
        assert (await act(make_client, staff, "am2", instances[name])).status_code == 200
    async with make_client() as admin:
        csrf = await sign_in(admin, staff.tenant.slug, staff.tenant.admin_email)
        made = await admin.post(
            api(staff, "definitions/versions"),
            json={"files": version_two()},
            headers={"X-CSRF-Token": csrf},
        )
        assert made.status_code == 201 and made.json()["number"] == 2, made.text
    _PUBLISHED[staff.tenant.slug] = instances
    return instances


async def admin_call(
    make_client: ClientFactory, staff: Staff, method: str, path: str, **kw: Any
) -> httpx.Response:
    async with make_client() as admin:
        csrf = await sign_in(admin, staff.tenant.slug, staff.tenant.admin_email)
        return await admin.request(method, path, headers={"X-CSRF-Token": csrf}, **kw)


def runs_url(staff: Staff, *parts: str) -> str:
    return api(staff, "workflows/review/migrations", *parts)


async def test_pinned_until_moved_and_the_dry_run_per_approval(
    make_client: ClientFactory, staff: Staff, published: dict[str, str]
) -> None:
    # Pinned by default: after version 2, am_review of a version-1 approval leads to
    # version 1's risk_review, not to version 2's risk_check.
    body = await shown(make_client, staff, published["fresh"])
    assert body["instance"]["definition_version"] == 1
    advanced = await shown(make_client, staff, published["advanced"])
    assert {t["node"] for t in advanced["instance"]["tasks"]} == {"risk_review"}

    dry = await admin_call(
        make_client,
        staff,
        "POST",
        runs_url(staff),
        json={"from_version": 1, "to_version": 2, "dry_run": True},
    )
    assert dry.status_code == 200, dry.text
    report = dry.json()["report"]
    assert (report["total"], report["movable"], report["refused"]) == (3, 1, 2)
    by_id = {i["instance"]: i for i in report["instances"]}
    fresh = by_id[published["fresh"]]
    assert fresh["can_move"] and fresh["moves"][0]["how"] == "unchanged"
    assert fresh["moves"][0]["users"] == [staff.email["am2"]]
    refused = by_id[published["advanced"]]
    assert not refused["can_move"]
    assert refused["problems"] == [
        {
            "pointer": "/mapping/risk_review",
            "code": "live_missing",
            "message": "the approval stands at risk_review, which the new chain lacks: map it",
        }
    ]

    mapped = await admin_call(
        make_client,
        staff,
        "POST",
        runs_url(staff),
        json={
            "from_version": 1,
            "to_version": 2,
            "mapping": {"risk_review": "risk_check"},
            "dry_run": True,
        },
    )
    report = mapped.json()["report"]
    assert (report["movable"], report["refused"]) == (3, 0)
    move = {i["instance"]: i for i in report["instances"]}[published["advanced"]]["moves"][0]
    assert move == {
        "token": move["token"],
        "node": "risk_review",
        "to": "risk_check",
        "how": "mapped",
        "tasks": "kept",
        "users": [staff.email["risk"]],
    }
    async with make_client() as admin:
        await sign_in(admin, staff.tenant.slug, staff.tenant.admin_email)
        assert (await admin.get(runs_url(staff))).json()["runs"] == []  # a dry run keeps nothing


async def test_the_console_page_maps_and_dry_runs(
    make_client: ClientFactory, staff: Staff, published: dict[str, str]
) -> None:
    page = f"/t/{staff.tenant.slug}/admin/approval-migrations"
    async with make_client() as admin:
        csrf = await sign_in(admin, staff.tenant.slug, staff.tenant.admin_email)
        shown = await admin.get(page, params={"workflow": "review"})
        assert shown.status_code == 200, shown.text
        html = shown.text
        assert "审批版本迁移" in html and "版本 1：3 个进行中的审批" in html
        # risk_review is gone in version 2: its row says so and offers risk_check.
        row = html[html.index('data-node="risk_review"') :]
        row = row[: row.index("</li>")]
        assert "新版本中没有" in row and 'value="risk_check"' in row
        unmapped = await admin.post(
            page,
            data={
                "csrf_token": csrf,
                "workflow": "review",
                "from_version": "1",
                "to_version": "2",
                "action": "dry_run",
            },
        )
        assert unmapped.status_code == 200
        assert unmapped.text.count('class="cannot-move"') == 2
        assert "/mapping/risk_review" in unmapped.text
        mapped = await admin.post(
            page,
            data={
                "csrf_token": csrf,
                "workflow": "review",
                "from_version": "1",
                "to_version": "2",
                "map.risk_review": "risk_check",
                "action": "dry_run",
            },
        )
        assert mapped.status_code == 200
        assert mapped.text.count('class="can-move"') == 3
        assert "保留原待办和处理人" in mapped.text and staff.email["risk"] in mapped.text
        bad = await admin.post(
            page,
            data={
                "csrf_token": csrf,
                "workflow": "review",
                "from_version": "1",
                "to_version": "2",
                "map.risk_review": "end",
                "action": "dry_run",
            },
        )
        assert bad.status_code == 422 and "/mapping/risk_review" in bad.text
    async with client_for(make_client, staff, "risk") as (client, _):
        assert (await client.get(page)).status_code == 403


async def test_bad_requests_and_mappings_name_their_entry(
    make_client: ClientFactory, staff: Staff, published: dict[str, str]
) -> None:
    cases = [
        (
            {"from_version": 1, "to_version": 2, "mapping": {"ghost": "risk_check"}},
            "/mapping/ghost",
        ),
        (
            {"from_version": 1, "to_version": 2, "mapping": {"risk_review": "end"}},
            "/mapping/risk_review",
        ),
        (
            {"from_version": 1, "to_version": 2, "mapping": {"risk_review": "nope"}},
            "/mapping/risk_review",
        ),
        ({"from_version": 2, "to_version": 1}, "/to_version"),
        ({"from_version": 1, "to_version": 9}, "/to_version"),
        ({"from_version": "1", "to_version": 2}, "/from_version"),
        ({"from_version": 1, "to_version": 2, "extra": 1}, "/extra"),
    ]
    for body, pointer in cases:
        answer = await admin_call(make_client, staff, "POST", runs_url(staff), json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert pointer in [d["pointer"] for d in answer.json()["error"]["details"]], body
    unknown = await admin_call(
        make_client,
        staff,
        "POST",
        api(staff, "workflows/nochain/migrations"),
        json={"from_version": 1, "to_version": 2},
    )
    assert unknown.status_code == 422
    async with client_for(make_client, staff, "risk") as (client, headers):
        refused = await client.post(
            runs_url(staff), json={"from_version": 1, "to_version": 2}, headers=headers
        )
        assert refused.status_code == 403


async def test_a_run_moves_each_approval_audited_and_once(
    make_client: ClientFactory,
    staff: Staff,
    published: dict[str, str],
    tenants: dict[str, TenantFixture],
) -> None:
    planned = await admin_call(
        make_client,
        staff,
        "POST",
        runs_url(staff),
        json={"from_version": 1, "to_version": 2, "mapping": {"risk_review": "risk_check"}},
    )
    assert planned.status_code == 201, planned.text
    run = planned.json()
    assert run["status"] == "planned" and run["report"]["dry_run"]["movable"] == 3
    # Planning moved nothing.
    assert (await shown(make_client, staff, published["pinned"]))["instance"][
        "definition_version"
    ] == 1

    # Another tenant's administrator finds no such run.
    beta = tenants["beta"]
    async with make_client() as other:
        csrf = await sign_in(other, beta.slug, beta.admin_email)
        for method, suffix in (("GET", ""), ("POST", "/run")):
            answer = await other.request(
                method,
                f"/t/{beta.slug}/api/workflows/review/migrations/{run['id']}{suffix}",
                headers={"X-CSRF-Token": csrf},
            )
            assert answer.status_code == 404, (method, answer.text)

    async def timer_for_risk_task() -> None:
        # A pending due time of the risk officer's task (as the timer table keeps it for
        # a node with an sla): it must follow the task to its new node id.
        iid = uuid.UUID(published["pinned"])
        task = await WorkflowTask.get(instance_id=iid)
        await WorkflowTimer.create(
            instance_id=iid,
            task_key=task.task_key,
            node_id=task.node_id,
            kind="timeout",
            step=0,
            fire_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        )

    await in_tenant(staff, timer_for_risk_task)
    started = await admin_call(make_client, staff, "POST", runs_url(staff, run["id"], "run"))
    assert started.status_code == 202 and started.json()["status"] == "queued"
    await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
    done = (await admin_call(make_client, staff, "GET", runs_url(staff, run["id"]))).json()
    assert done["status"] == "done", done
    assert (done["moved"], done["failed"]) == (3, 0)
    results = {i["instance"]: i["result"] for i in done["report"]["run"]["instances"]}
    assert set(results.values()) == {"moved"}

    body = await shown(make_client, staff, published["pinned"])
    assert body["instance"]["definition_version"] == 2
    (task,) = body["instance"]["tasks"]
    assert (task["node"], task["user"], task["version"]) == ("risk_check", staff.id["risk"], 1)
    assert [h["op"] for h in body["history"]][-1] == "migrate"
    fact = body["history"][-1]["facts"][0]
    assert fact["fact"] == "migrated" and fact["mapping"] == {"risk_review": "risk_check"}
    assert (fact["from_version"], fact["to_version"]) == (1, 2)
    assert fact["from_plan"] != fact["to_plan"]

    async def stored() -> tuple[Any, ...]:
        iid = uuid.UUID(published["pinned"])
        row = await WorkflowTask.get(instance_id=iid)
        events = await AuditEvent.filter(object_id=published["pinned"], action="workflow.migrate")
        instance = await WorkflowInstance.get(id=iid)
        timer = await WorkflowTimer.get(instance_id=iid)
        return row.node_id, [e.data for e in events], instance.plan_hash, timer

    node_id, events, plan_hash, timer = await in_tenant(staff, stored)
    assert node_id == "risk_check"
    assert (timer.node_id, timer.status, timer.task_key) == ("risk_check", "pending", task["task"])
    (event,) = events
    assert event["plan"] == plan_hash == fact["to_plan"]
    assert event["facts"][0]["from_plan"] == fact["from_plan"]

    # The approver's task is the same task: acting on it follows version 2's route.
    assert (await act(make_client, staff, "risk", published["pinned"])).status_code == 200
    after = await shown(make_client, staff, published["pinned"])
    assert {t["node"] for t in after["instance"]["tasks"]} == {"legal_review"}

    # Done: running it again is refused; the approvals stay as they are.
    again = await admin_call(make_client, staff, "POST", runs_url(staff, run["id"], "run"))
    assert again.status_code == 409
    listed = (await admin_call(make_client, staff, "GET", runs_url(staff))).json()["runs"]
    assert [r["id"] for r in listed] == [run["id"]]
    view = await admin_call(
        make_client, staff, "GET", f"/t/{staff.tenant.slug}/admin/approval-migrations/{run['id']}"
    )
    assert view.status_code == 200 and "已完成" in view.text
    assert view.text.count("已迁移") >= 3 and "执行迁移" not in view.text


async def test_a_run_delivered_twice_moves_nothing_twice(
    app: Starlette, make_client: ClientFactory, staff: Staff, published: dict[str, str]
) -> None:
    instance = await start(make_client, staff)  # on version 2 already (the latest)
    keys = app.state.services.keys

    async def pin_back() -> None:
        # Made to look like an approval started on version 1 (same chain at am_review).
        iid = uuid.UUID(instance)
        old = await migrations.chains_at("review", 1, 2)
        await WorkflowInstance.filter(id=iid).update(definition_version=1, plan_hash=old.old.hash)

    await in_tenant(staff, pin_back)

    async def planned() -> tuple[Any, Any]:
        chains = await migrations.chains_at("review", 1, 2)
        _, run = await migrations.plan(
            keys,
            "review",
            1,
            2,
            {"risk_review": "risk_check"},
            created_by=uuid.UUID(staff.id["gm"]),
            keep=True,
        )
        return chains, run

    chains, run = await in_tenant(staff, planned)
    with tenant_scope(staff.tenant.context):  # each move opens its own transaction
        first, second = [
            await migrations.move_instance(
                keys, chains, run.id, uuid.UUID(instance), {}, run.created_by
            )
            for _ in range(2)
        ]
    assert first["result"] == "moved"
    assert (second["result"], second["why"]) == ("skipped", "moved already")

    async def count() -> int:
        return await WorkflowAction.filter(instance_id=uuid.UUID(instance), op="migrate").count()

    assert await in_tenant(staff, count) == 1

    async def act_on_version_one() -> None:
        old = Bundle.from_published((await get_version(1)).bundle)
        await act_on(
            uuid.UUID(instance),
            Action("comment", staff.id["am"], comment="还在旧版本吗"),
            bundle=old,
            data={},
            idempotency_key="late-comment",
        )

    # An action that loaded version 1 before the move is told to load the new one (the
    # API does, and acts again): never applied to the old chain.
    with pytest.raises(Repinned):
        await in_tenant(staff, act_on_version_one)


async def test_an_approver_acting_while_the_run_moves_loses_nothing(
    app: Starlette, make_client: ClientFactory, staff: Staff, published: dict[str, str]
) -> None:
    keys = app.state.services.keys
    instances = [await start(make_client, staff) for _ in range(3)]

    async def pin_back() -> None:
        old = await migrations.chains_at("review", 1, 2)
        for text in instances:
            await WorkflowInstance.filter(id=uuid.UUID(text)).update(
                definition_version=1, plan_hash=old.old.hash
            )

    await in_tenant(staff, pin_back)

    async def planned() -> uuid.UUID:
        _, run = await migrations.plan(
            keys,
            "review",
            1,
            2,
            {"risk_review": "risk_check"},
            created_by=uuid.UUID(staff.id["gm"]),
            keep=True,
        )
        assert run is not None
        await migrations.request_run(run)
        return run.id

    run_id = await in_tenant(staff, planned)

    async def run_it() -> str:
        with tenant_scope(staff.tenant.context):
            return await migrations.apply_run(keys, run_id)

    outcome, *answers = await asyncio.gather(
        run_it(), *(act(make_client, staff, "am2", text) for text in instances)
    )
    assert outcome == "done"
    acted = [a for a in answers if isinstance(a, httpx.Response)]
    assert [a.status_code for a in acted] == [200] * 3, [a.text for a in acted]

    async def check() -> list[tuple[int, int, int, set[Any]]]:
        found = []
        for text in instances:
            iid = uuid.UUID(text)
            row = await WorkflowInstance.get(id=iid)
            approves = await WorkflowAction.filter(instance_id=iid, op="approve").count()
            moves = await WorkflowAction.filter(instance_id=iid, op="migrate").count()
            nodes = set(
                await WorkflowTask.filter(instance_id=iid).values_list("node_id", flat=True)
            )
            found.append((row.definition_version, approves, moves, nodes))
        return found

    for version, approves, moves, nodes in await in_tenant(staff, check):
        # Exactly one approval counted and one move, in either order: the approval went on
        # from am_review (on version 1 then moved, or on version 2) to risk_check.
        assert (version, approves, moves, nodes) == (2, 1, 1, {"risk_check"})


async def test_openapi_documents_the_migration_routes(make_client: ClientFactory) -> None:
    async with make_client() as client:
        document = (await client.get("/t/alpha/api/openapi.json")).json()
    paths = document["paths"]
    runs = paths["/t/{slug}/api/workflows/{workflow_id}/migrations"]
    assert (
        "mapping"
        in runs["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    assert {"200", "201", "403", "422"} <= set(runs["post"]["responses"])
    assert "post" in paths["/t/{slug}/api/workflows/{workflow_id}/migrations/{migration_id}/run"]
