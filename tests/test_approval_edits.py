"""The approval page's newer parts on PostgreSQL, on the demo chain (广信担保's review):
the legal review offered to two counsels (待认领, claim and give back), its write fields
saved with the approval (checked like a record save, refused field by field, nothing
half-applied, a repeated key writing once), the committee without the related people,
urging (催办), and the inbox tabs filtered and paged by the database."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, WorkflowAction
from danbao.tenancy.context import tenant_scope
from danbao.workflow.listing import Filters, tab_counts, tab_page

from .conftest import ClientFactory
from .test_approval_pages import (
    Gx,
    act,
    as_user,
    buttons,
    demo_guarantor,
    page,
    start_approval,
    tab_count,
)


@pytest.fixture(scope="module")
async def gx(app: Starlette) -> Gx:
    return await demo_guarantor()


async def shown(make_client: ClientFactory, gx: Gx, name: str, instance: str) -> dict[str, Any]:
    async with as_user(make_client, gx, name) as (client, _):
        answer = await client.get(f"/t/{gx.slug}/api/approvals/{instance}")
    return dict(answer.json()["instance"])


async def post(
    make_client: ClientFactory, gx: Gx, name: str, instance: str, body: dict[str, Any], key: str
) -> Any:
    async with as_user(make_client, gx, name) as (client, headers):
        return await client.post(
            f"/t/{gx.slug}/api/approvals/{instance}/actions",
            json=body,
            headers={**headers, "Idempotency-Key": key},
        )


def task_of(view: dict[str, Any], gx: Gx, name: str) -> dict[str, Any]:
    return next(t for t in view["tasks"] if t["user"] == gx.id[name])


async def record_of(make_client: ClientFactory, gx: Gx, record: str) -> dict[str, Any]:
    async with as_user(make_client, gx, "am") as (client, _):
        answer = await client.get(f"/t/{gx.slug}/api/forms/application/records/{record}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def updates_of(gx: Gx, record: str) -> list[dict[str, Any]]:
    with tenant_scope(gx.tenant.context):
        async with in_transaction():
            rows = await AuditEvent.filter(action="record.updated", object_id=record)
    return [dict(r.data) for r in rows]


async def test_the_legal_pool_claimable_claim_and_give_back(
    make_client: ClientFactory, gx: Gx
) -> None:
    instance = await start_approval(make_client, gx, 1_000_000)
    link = f"/approvals/{instance}"
    for name in ("legal", "legal2"):
        claimable = (await page(make_client, gx, name, "/inbox", tab="claimable")).text
        assert link in claimable and tab_count(claimable, "claimable") >= 1
        assert link not in (await page(make_client, gx, name, "/inbox")).text  # not 待办
    assert buttons((await page(make_client, gx, "legal", link)).text) == {"claim", "comment"}

    task = task_of(await shown(make_client, gx, "legal", instance), gx, "legal")
    claim = {"op": "claim", "task": task["task"], "version": task["version"]}
    assert (await post(make_client, gx, "legal", instance, claim, "c1")).status_code == 200
    assert link not in (await page(make_client, gx, "legal2", "/inbox", tab="claimable")).text
    mine = (await page(make_client, gx, "legal", "/inbox")).text
    assert link in mine
    legal = (await page(make_client, gx, "legal", link)).text
    assert {"approve", "unclaim"} <= buttons(legal)
    # The node's write fields are editable widgets; the rest stays read-only.
    assert 'data-record-edit="' in legal
    assert re.search(r'<input[^>]*id="f-related_party"[^>]*name="related_party"', legal)
    amount = re.search(r'<input[^>]*id="f-amount"[^>]*>', legal)
    assert amount and "disabled" in amount.group(0)

    task = task_of(await shown(make_client, gx, "legal", instance), gx, "legal")
    back = {"op": "unclaim", "task": task["task"], "version": task["version"]}
    assert (await post(make_client, gx, "legal", instance, back, "u1")).status_code == 200
    for name in ("legal", "legal2"):
        claimable = (await page(make_client, gx, name, "/inbox", tab="claimable")).text
        assert link in claimable


async def test_write_fields_saved_with_the_approval(make_client: ClientFactory, gx: Gx) -> None:
    instance = await start_approval(make_client, gx, 1_000_000)
    view = await shown(make_client, gx, "risk", instance)
    record = view["record"]
    before = await record_of(make_client, gx, record)
    await act(make_client, gx, "risk", instance, comment="风险可控")
    await act(make_client, gx, "legal", instance, op="claim")
    task = task_of(await shown(make_client, gx, "legal", instance), gx, "legal")
    approve = {"op": "approve", "task": task["task"], "version": task["version"]}

    # Not writable here: refused by field, even when the value is the same.
    for data, pointer in (({"amount": 1}, "/amount"), ({"amount": 1_000_000}, "/amount")):
        refused = await post(make_client, gx, "legal", instance, {**approve, "data": data}, "k0")
        assert refused.status_code == 422, refused.text
        assert [d["pointer"] for d in refused.json()["error"]["details"]] == [pointer]
    # Invalid by the form's logic (a related party needs its note): nothing happens.
    invalid = await post(
        make_client, gx, "legal", instance, {**approve, "data": {"related_party": True}}, "k0"
    )
    assert invalid.status_code == 422, invalid.text
    assert [d["pointer"] for d in invalid.json()["error"]["details"]] == ["/related_party_note"]
    assert (await record_of(make_client, gx, record))["revision"] == before["revision"]
    assert task_of(await shown(make_client, gx, "legal", instance), gx, "legal") == task
    with tenant_scope(gx.tenant.context):
        async with in_transaction():
            assert not await WorkflowAction.filter(idempotency_key="k0").exists()
    # Record changes ride on approve only.
    comment = {"op": "comment", "comment": "看看", "data": {"related_party": False}}
    assert (await post(make_client, gx, "legal", instance, comment, "k1")).status_code == 400

    recused = gx.id["c2"]
    data = {
        "related_party": True,
        "related_party_note": "董事长兼任其监事",
        "related_people": [recused],
    }
    body = {**approve, "data": data}
    done = await post(make_client, gx, "legal", instance, body, "k2")
    assert done.status_code == 200, done.text
    again = await post(make_client, gx, "legal", instance, body, "k2")  # a double click
    assert again.status_code == 200 and again.json() == done.json()
    other = await post(make_client, gx, "legal", instance, {**body, "data": {}}, "k2")
    assert other.status_code == 422  # the same key with another request

    after = await record_of(make_client, gx, record)
    assert after["revision"] == before["revision"] + 1  # written once
    assert after["data"]["related_party"] is True
    assert after["data"]["related_people"] == [recused]
    updates = await updates_of(gx, record)
    assert len(updates) == 1 and updates[0]["approval"] == instance
    assert updates[0]["node"] == "legal_review"
    assert {c["pointer"] for c in updates[0]["changes"]} == {
        "/related_party", "/related_party_note", "/related_people"
    }  # fmt: skip
    # ¥1,000,000 but now a related party: the committee votes, without the related member.
    tasks = done.json()["instance"]["tasks"]
    assert {t["node"] for t in tasks} == {"committee"}
    assert recused not in {t["user"] for t in tasks} and len(tasks) == 4
    facts = done.json()["facts"]
    assert any(
        f["fact"] == "excluded" and f["user"] == recused and "recused" in f["why"] for f in facts
    )


async def test_write_fields_as_the_page_posts_them(make_client: ClientFactory, gx: Gx) -> None:
    instance = await start_approval(make_client, gx, 1_000_000)
    record = (await shown(make_client, gx, "risk", instance))["record"]
    await act(make_client, gx, "legal", instance, op="claim")
    task = task_of(await shown(make_client, gx, "legal", instance), gx, "legal")
    pairs = [["related_party", "on"], ["related_party_note", "与本公司同一控制人"]]
    body = {"op": "approve", "task": task["task"], "version": task["version"], "form": pairs}
    done = await post(make_client, gx, "legal", instance, body, uuid.uuid4().hex)
    assert done.status_code == 200, done.text
    data = (await record_of(make_client, gx, record))["data"]
    assert data["related_party"] is True and data["related_party_note"] == "与本公司同一控制人"


async def test_urge_once_an_hour(make_client: ClientFactory, gx: Gx) -> None:
    instance = await start_approval(make_client, gx, 1_000_000)
    submitter = (await page(make_client, gx, "am", f"/approvals/{instance}")).text
    assert "urge" in buttons(submitter) and "催办" in submitter
    urged = await post(make_client, gx, "am", instance, {"op": "urge"}, "urge-1")
    assert urged.status_code == 200, urged.text
    assert {f["fact"] for f in urged.json()["facts"]} == {"urge"}
    assert (
        await post(make_client, gx, "am", instance, {"op": "urge"}, "urge-2")
    ).status_code == 429
    assert "urge" not in buttons(
        (await page(make_client, gx, "risk", f"/approvals/{instance}")).text
    )
    timeline = (await page(make_client, gx, "am", f"/approvals/{instance}")).text
    assert "fact-urge" in timeline


async def test_done_and_copied_tabs_are_paged_and_filtered_by_the_database(
    make_client: ClientFactory, gx: Gx
) -> None:
    first = await start_approval(make_client, gx, 1_000_000)
    second = await start_approval(make_client, gx, 2_000_000)
    for instance in (first, second):
        await act(make_client, gx, "risk", instance, comment="同意")
    china = ZoneInfo("Asia/Shanghai")
    now = dt.datetime.now(dt.UTC)
    risk = uuid.UUID(gx.id["risk"])
    with tenant_scope(gx.tenant.context):
        async with in_transaction():
            counts = await tab_counts(risk)
            one, total = await tab_page(risk, "done", Filters(), now=now, zone=china, per_page=1)
            two, _ = await tab_page(
                risk, "done", Filters(), now=now, zone=china, page=2, per_page=1
            )
            nobody, none = await tab_page(
                risk, "done", Filters(submitter="no-such-person"), now=now, zone=china
            )
            dated, in_range = await tab_page(
                risk, "done", Filters(date_from=dt.date(2020, 1, 1)), now=now, zone=china
            )
            old, before = await tab_page(
                risk, "done", Filters(date_to=dt.date(2020, 1, 1)), now=now, zone=china
            )
    assert counts["done"] == total >= 2 and counts["mine"] >= 0
    assert len(one) == len(two) == 1
    assert one[0].instance == second and two[0].instance == first  # newest first
    assert (nobody, none) == ([], 0) and (old, before) == ([], 0)
    assert in_range == total and {i.instance for i in dated} >= {first, second}
    html = (await page(make_client, gx, "risk", "/inbox", tab="done", form="application")).text
    assert f"/approvals/{first}" in html and f"/approvals/{second}" in html
