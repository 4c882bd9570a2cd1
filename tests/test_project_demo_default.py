"""The demo guarantor 广信担保 (tenants/gxdb as shipped) with its default story from
tenants/demo.json: application, its real approval chain, contract, letter, disbursement,
three repayments, then the bank's overdue notice, compensation carried by a second run of
the chain, and recovery that brings part of it back; then, through the API, the actions
closed and the rest written off with the regulator's evidence on a third run of the
chain. The totals reconcile at every step."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.audit import verify_chain
from danbao.config import REPO_ROOT
from danbao.db.models import Project
from danbao.definitions import load_bundle
from danbao.demo_projects import Story, seed_projects
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal
from danbao.plugins.tenant_config import configure
from danbao.provisioning import create_tenant, create_user
from danbao.records.definition import FormDefinition
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, ClientFactory, TenantFixture, sign_in
from .projects_helpers import projects_url

GXDB = REPO_ROOT / "tenants" / "gxdb"
D = Decimal


def demo_spec() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The gxdb entry of tenants/demo.json and its project that goes into default."""
    data = json.loads((REPO_ROOT / "tenants" / "demo.json").read_text(encoding="utf-8"))
    entry = next(t for t in data["tenants"] if t["slug"] == "gxdb")
    return next(p for p in entry["projects"] if "default" in p), entry["users"]


async def test_the_demo_default_story_to_write_off(
    app: Starlette, make_client: ClientFactory
) -> None:
    services: Services = app.state.services
    spec, users = demo_spec()
    slug = f"dd{uuid.uuid4().hex[:8]}"
    tenant, version = await create_tenant(
        slug, GXDB, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    fixture = TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")
    name = load_bundle(GXDB).tenant["name"]["zh-CN"]
    with tenant_scope(fixture.context):
        async with in_transaction():
            for user in users:
                if "admin" not in user["roles"]:
                    await create_user(
                        user["email"], user["name"], PASSWORD, user["roles"], user["department"]
                    )
            await configure(
                services.keys, LocalPadesSigner, settings=seal_settings(new_seal(name), name)
            )

    bundle = load_bundle(GXDB)
    verify = f"http://testserver/t/{slug}/verify/"
    keys, store = services.keys, services.store
    [number] = await seed_projects(
        tenant, bundle, version, [spec], keys=keys, store=store, verify_base=verify
    )
    with tenant_scope(fixture.context):
        async with in_transaction():
            project = await Project.get(number=number)
    pid = str(project.id)
    assert project.state == "RECOVERING"

    async with make_client() as client:
        csrf = await sign_in(client, slug, "legal@gxdb.demo")
        headers = {"X-CSRF-Token": csrf}
        file = (await client.get(projects_url(slug, pid, "default"))).json()
        [notice] = file["overdue"]
        # 1,500,000 in 12 equal parts, three repaid: 1,125,000 called in, 80% ours.
        assert (notice["principal"], notice["obliged"], notice["days_overdue"]) == (
            "900000.00",
            "918250.00",
            30,
        )
        assert file["compensation"]["amount"] == "918250.00"
        assert [(a["kind"], a["recovered"]) for a in file["recoveries"]] == [
            ("demand", "50000.00"),
            ("litigation", "300000.00"),
        ]
        totals = file["totals"]
        assert (totals["compensated"], totals["recovered"], totals["outstanding"]) == (
            "918250.00",
            "350000.00",
            "568250.00",
        )
        assert totals["reconciled"] and totals["lost"] == "0.00"

        # The recovery ends: each action closed, then the case.
        last_day = max(r["receipts"][-1]["received_on"] for r in file["recoveries"])
        for action in file["recoveries"]:
            closed = await client.post(
                projects_url(slug, pid, "recoveries", action["id"], "close"),
                json={"closed_on": last_day, "outcome": "无可供执行财产，终结本次执行"},
                headers=headers,
            )
            assert closed.status_code == 200, closed.text
        version_now = closed.json()["project"]["version"]
        ended = await client.post(
            projects_url(slug, pid, "events", "close_recovery"),
            json={"version": version_now},
            headers=headers,
        )
        assert ended.status_code == 200, ended.text

    # The write-off goes through the chain again (a third run on the application).
    story = Story(tenant, bundle, version, keys=keys, store=store, verify_base=verify)
    form = FormDefinition.from_bundle(bundle, spec["form"])
    approval = await story.approval(project.record_id, form, spec, f"write-off-{pid}")
    async with make_client() as client:
        csrf = await sign_in(client, slug, "finance@gxdb.demo")
        written = await client.post(
            projects_url(slug, pid, "write-off"),
            json={
                "version": ended.json()["project"]["version"],
                "approval_id": str(approval),
                "written_off_on": last_day,
                "loss": "568250.00",
                "evidence": [
                    {
                        "kind": "court_judgment",
                        "reference": "(2026)川0104执1234号之一",
                        "issued_on": last_day,
                        "issuer": "成都市锦江区人民法院",
                        "description": "终结本次执行程序裁定",
                    }
                ],
            },
            headers={"X-CSRF-Token": csrf},
        )
        assert written.status_code == 201, written.text
        shown = (await client.get(projects_url(slug, pid))).json()
        overall = (await client.get(projects_url(slug, "totals"))).json()
    assert shown["state"]["code"] == "WRITTEN_OFF"
    totals = shown["totals"]
    assert (totals["compensated"], totals["recovered"], totals["lost"], totals["outstanding"]) == (
        "918250.00",
        "350000.00",
        "568250.00",
        "0.00",
    )
    assert D(totals["compensated"]) == D(totals["recovered"]) + D(totals["lost"])
    assert totals["reconciled"] and overall["unreconciled"] == []
    assert overall["projects"] == {"overdue": 0, "compensated": 1, "written_off": 1}
    with tenant_scope(fixture.context):
        async with in_transaction():
            assert (await verify_chain()).ok
