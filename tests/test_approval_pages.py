"""The approval pages on PostgreSQL, on a guarantor set up like 广信担保 (the demo chain):
the inbox's tabs, counts and filters; the approval page with the node's field permissions
and exactly the buttons the node allows; strangers and other tenants get 404; the
administrator's simulator."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from danbao.authz.fields import FieldRule, FieldRules
from danbao.config import REPO_ROOT
from danbao.provisioning import create_tenant
from danbao.web.approval_edits import edit_rules
from danbao.workflow.plan import compile_plan

from .conftest import PASSWORD, ClientFactory, TenantFixture, sign_in
from .records_helpers import new_user
from .test_form_logic import APPLICATION

GXDB = REPO_ROOT / "tenants" / "gxdb"
# The demo's people, by role and department (tenants/demo.json), a committee of five.
STAFF = {
    "am": (["account_manager"], "chengdu_biz"),
    "am2": (["account_manager"], "chengdu_biz"),
    "risk": (["risk_officer"], "risk"),
    "legal": (["legal"], "legal"),
    "legal2": (["legal"], "legal"),
    **{f"c{n}": (["committee_member"], "hq") for n in range(1, 6)},
    "gm": (["general_manager"], "hq"),
    "fin": (["finance"], "finance"),
    "nobody": ([], None),
}


class Gx:
    def __init__(self, tenant: TenantFixture) -> None:
        self.tenant = tenant
        self.email: dict[str, str] = {}
        self.id: dict[str, str] = {}

    @property
    def slug(self) -> str:
        return self.tenant.slug


async def demo_guarantor() -> Gx:
    slug = f"ap{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, GXDB, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    gx = Gx(TenantFixture(slug, tenant.id, f"admin@{slug}.test", ""))
    for name, (roles, department) in STAFF.items():
        email, uid = await new_user(gx.tenant, roles, department)
        gx.email[name], gx.id[name] = email, str(uid)
    return gx


@pytest.fixture(scope="module")
async def gx(app: Starlette) -> Gx:
    return await demo_guarantor()


@asynccontextmanager
async def as_user(
    make_client: ClientFactory, gx: Gx, name: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with make_client() as client:
        email = gx.tenant.admin_email if name == "admin" else gx.email[name]
        csrf = await sign_in(client, gx.slug, email)
        yield client, {"X-CSRF-Token": csrf}


async def submitted_record(make_client: ClientFactory, gx: Gx, amount: int) -> str:
    """An application from head office (no branch review) submitted by the account manager."""
    api = f"/t/{gx.slug}/api/forms/application/records"
    data = {**APPLICATION, "branch": "hq", "amount": amount}
    async with as_user(make_client, gx, "am") as (client, headers):
        made = await client.post(api, json={"data": data}, headers=headers)
        assert made.status_code == 201, made.text
        record = made.json()["id"]
        submitted = await client.post(f"{api}/{record}/submit", headers=headers)
        assert submitted.status_code == 200, submitted.text
    return str(record)


async def start_approval(make_client: ClientFactory, gx: Gx, amount: int) -> str:
    """The approval of a fresh submitted application, started by its account manager."""
    record = await submitted_record(make_client, gx, amount)
    async with as_user(make_client, gx, "am") as (client, headers):
        started = await client.post(
            f"/t/{gx.slug}/api/forms/application/records/{record}/approval",
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert started.status_code == 201, started.text
    return str(started.json()["instance"]["id"])


async def act(
    make_client: ClientFactory, gx: Gx, name: str, instance: str, op: str = "approve", **body: Any
) -> dict[str, Any]:
    """``name`` acts on their open task in ``instance`` through the API (claiming it
    first when it is offered to a group, as the legal review is)."""
    url = f"/t/{gx.slug}/api/approvals/{instance}"
    async with as_user(make_client, gx, name) as (client, headers):
        shown = (await client.get(url)).json()["instance"]
        task = next(t for t in shown["tasks"] if t["user"] == gx.id[name])
        if task["kind"] == "claim" and op != "claim":
            claimed = await client.post(
                f"{url}/actions",
                json={"op": "claim", "task": task["task"], "version": task["version"]},
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert claimed.status_code == 200, claimed.text
            task = next(t for t in claimed.json()["instance"]["tasks"] if t["task"] == task["task"])
        done = await client.post(
            f"{url}/actions",
            json={"op": op, "task": task["task"], "version": task["version"], **body},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
    assert done.status_code == 200, done.text
    return dict(done.json())


async def page(make_client: ClientFactory, gx: Gx, name: str, path: str, **params: Any) -> Any:
    async with as_user(make_client, gx, name) as (client, _):
        return await client.get(f"/t/{gx.slug}{path}", params=params)


def buttons(html: str) -> set[str]:
    return set(re.findall(r'name="op" value="([a-z_]+)"', html))


def tab_count(html: str, tab: str) -> int:
    found = re.search(rf'data-tab="{tab}">[^<]*<span class="count">(\d+)</span>', html)
    assert found, tab
    return int(found.group(1))


async def test_inbox_tabs_counts_and_filters(make_client: ClientFactory, gx: Gx) -> None:
    instance = await start_approval(make_client, gx, 6_000_000)
    link = f"/approvals/{instance}"
    shown = await page(make_client, gx, "risk", "/inbox")
    assert shown.status_code == 200
    html = shown.text
    assert link in html and "风险管理部审查" in html
    assert tab_count(html, "mine") >= 1
    for tab in ("claimable", "done", "copied"):
        assert f'data-tab="{tab}"' in html

    async def listed(name: str, **params: Any) -> bool:
        return link in (await page(make_client, gx, name, "/inbox", **params)).text

    assert await listed("risk", submitter=gx.email["am"])
    assert not await listed("risk", submitter="no-such-person")
    assert await listed("risk", form="application")
    assert not await listed("risk", form="due_diligence")
    assert not await listed("risk", overdue="on")  # due in two working days, not yet overdue
    assert await listed("risk", **{"from": "2020-01-01"})
    assert not await listed("risk", to="2020-01-01")
    assert not await listed("risk", tab="done")
    assert not await listed("am2")  # someone else's task is not in their inbox

    await act(make_client, gx, "risk", instance, comment="风险可控")
    assert not await listed("risk")
    assert await listed("risk", tab="done")
    home = await page(make_client, gx, "risk", "/")
    assert f"/t/{gx.slug}/inbox" in home.text


async def test_the_approval_page_shows_the_node_and_its_buttons(
    make_client: ClientFactory, gx: Gx
) -> None:
    instance = await start_approval(make_client, gx, 6_000_000)
    path = f"/approvals/{instance}"

    risk = (await page(make_client, gx, "risk", path)).text
    # Risk review allows every operation; a plain approval node has no abstain.
    assert buttons(risk) == {
        "approve", "reject", "return", "transfer", "delegate", "add_signer", "remove_signer",
        "comment",
    }  # fmt: skip
    assert 'data-key="' in risk and 'data-version="1"' in risk
    # The node's field permissions: the ID number hidden here, the amount read-only.
    assert 'id="f-legal_rep_id_number"' not in risk
    amount = re.search(r'<input[^>]*id="f-amount"[^>]*>', risk)
    assert amount and "disabled" in amount.group(0) and 'name="amount"' not in amount.group(0)
    assert "必须填写" in risk  # the node requires a comment
    legal = (await page(make_client, gx, "legal", path)).text
    assert 'id="f-legal_rep_id_number"' in legal  # legal's node does not hide it
    assert "13800138000" not in legal  # a sensitive field stays masked

    await act(make_client, gx, "risk", instance, comment="同意，担保物足值")
    body = await act(make_client, gx, "legal", instance)
    assert {t["node"] for t in body["instance"]["tasks"]} == {"committee"}
    committee = (await page(make_client, gx, "c1", path)).text
    # The approver's opinion stands on their step of the timeline.
    assert '<blockquote class="opinion">同意，担保物足值</blockquote>' in committee
    assert buttons(committee) >= {"approve", "reject", "abstain"}  # a vote
    # The timeline says why: the rule and the amount that sent it to the committee.
    assert "amount &gt; 5000000" in committee and "amount = 6000000" in committee
    assert "评审委员会表决" in committee

    record = (await page(make_client, gx, "am", path)).text
    record_url = re.search(r'href="(/t/[^"]+/forms/application/records/[^"]+)"', record)
    assert record_url
    on_record = await page(make_client, gx, "am", record_url.group(1).split(gx.slug, 1)[1])
    assert f'href="/t/{gx.slug}{path}"' in on_record.text  # the record links to its approval
    submitter = (await page(make_client, gx, "am", path)).text
    # Approvers have acted: no withdraw; the committee's tasks are open: 催办.
    assert buttons(submitter) == {"cancel", "comment", "urge"}
    assert "data-task=" not in submitter


async def test_strangers_and_other_tenants_get_404(
    make_client: ClientFactory, gx: Gx, tenants: dict[str, TenantFixture]
) -> None:
    instance = await start_approval(make_client, gx, 1_000_000)
    path = f"/approvals/{instance}"
    assert (await page(make_client, gx, "nobody", path)).status_code == 404
    assert (await page(make_client, gx, "risk", f"/approvals/{uuid.uuid4()}")).status_code == 404
    assert (await page(make_client, gx, "risk", "/approvals/not-an-id")).status_code == 404
    # Another account manager may read the chain, but the risk officer's task is not theirs:
    # the page shows no buttons, and acting on that task is refused.
    other = await page(make_client, gx, "am2", path)
    assert other.status_code == 200 and "data-task=" not in other.text
    assert buttons(other.text) == set()
    async with as_user(make_client, gx, "am2") as (client, headers):
        url = f"/t/{gx.slug}/api/approvals/{instance}"
        task = next(
            t for t in (await client.get(url)).json()["instance"]["tasks"]
            if t["user"] == gx.id["risk"]
        )  # fmt: skip
        refused = await client.post(
            f"{url}/actions",
            json={"op": "approve", "task": task["task"]},
            headers={**headers, "Idempotency-Key": "not-mine"},
        )
    assert refused.status_code == 403
    # Signed in to another tenant: the same approval id is nothing there.
    async with make_client() as client:
        await sign_in(client, "alpha", tenants["alpha"].admin_email)
        assert (await client.get(f"/t/alpha{path}")).status_code == 404
        assert (await client.get(f"/t/{gx.slug}{path}")).status_code in (401, 403, 404)


async def test_copied_to_me_after_the_chain_ends(make_client: ClientFactory, gx: Gx) -> None:
    instance = await start_approval(make_client, gx, 1_000_000)
    await act(make_client, gx, "risk", instance, comment="同意")
    body = await act(make_client, gx, "legal", instance)
    assert {t["node"] for t in body["instance"]["tasks"]} == {"gm_approval"}
    body = await act(make_client, gx, "gm", instance, comment="同意")
    assert body["instance"]["status"] == "approved"
    copied = (await page(make_client, gx, "fin", "/inbox", tab="copied")).text
    assert f"/approvals/{instance}" in copied and tab_count(copied, "copied") >= 1
    assert f"/approvals/{instance}" not in (await page(make_client, gx, "fin", "/inbox")).text
    # Finance was copied: they may open it, read-only.
    shown = await page(make_client, gx, "fin", f"/approvals/{instance}")
    assert shown.status_code == 200 and "已通过" in shown.text and buttons(shown.text) == set()


async def test_the_simulator_page(make_client: ClientFactory, gx: Gx) -> None:
    asked = await page(
        make_client,
        gx,
        "admin",
        "/admin/simulator",
        ask="1",
        workflow="review",
        submitter=gx.email["am"],
        **{"v.branch": "chengdu", "v.amount": "6000000"},
    )
    assert asked.status_code == 200, asked.text
    html = asked.text
    assert 'id="sim-v-amount"' in html and 'id="sim-v-branch"' in html
    assert 'data-node="committee"' in html and 'data-node="gm_approval"' in html
    assert "amount &gt; 5000000" in html and "amount = 6000000" in html
    under = await page(make_client, gx, "admin", "/admin/simulator", ask="1", **{
        "v.branch": "hq", "v.amount": "1000000"
    })  # fmt: skip
    assert 'data-node="committee"' not in under.text and 'data-node="risk_review"' in under.text
    unknown = await page(
        make_client, gx, "admin", "/admin/simulator", ask="1", submitter="ghost@x.test"
    )
    assert unknown.status_code == 404
    assert (await page(make_client, gx, "am", "/admin/simulator")).status_code == 403
    home = await page(make_client, gx, "admin", "/")
    assert f"/t/{gx.slug}/admin/simulator" in home.text


def test_edit_rules_open_the_node_write_fields_only() -> None:
    plan = compile_plan(
        {
            "id": "wf",
            "name": {"zh-CN": "wf"},
            "form": "f",
            "nodes": [
                {"id": "start", "type": "start", "next": "n"},
                {
                    "id": "n",
                    "type": "approve",
                    "assignee": {"role": "r"},
                    "fields": {
                        "a": "hidden",
                        "b": "read",
                        "c": "write",
                        "d": "write",
                        "e": "write",
                    },
                    "next": "end",
                },
                {"id": "end", "type": "end"},
            ],
        }
    )
    node = plan.node("n")
    base = FieldRules(
        {"d": FieldRule.READONLY, "e": FieldRule.MASKED, "g": FieldRule.HIDDEN}, FieldRule.WRITABLE
    )
    rules = edit_rules(base, node, "decide")
    assert rules.rule("a") == FieldRule.HIDDEN
    assert rules.rule("b") == FieldRule.READONLY
    assert rules.rule("c") == FieldRule.WRITABLE
    assert rules.rule("d") == FieldRule.WRITABLE  # the node lets the approver write what they see
    assert rules.rule("e") == FieldRule.MASKED  # never what the role may not see
    assert rules.rule("g") == FieldRule.HIDDEN
    assert rules.rule("other") == FieldRule.READONLY  # the rest is read-only at a step
    # No approving task (a claim, a delegate, a reader): nothing is writable.
    for kind in ("claim", "delegate", None):
        assert rules_writable(edit_rules(base, node, kind)) == set()
    assert rules_writable(edit_rules(base, None, "decide")) == set()


def rules_writable(rules: FieldRules) -> set[str]:
    return {k for k in "abcdefg" if rules.rule(k) == FieldRule.WRITABLE}
