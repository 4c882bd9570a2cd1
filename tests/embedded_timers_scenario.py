"""Run by tests/test_embedded_timers.py in a process of its own (Tortoise is per process):
the embedded mode's SQLite database, a guarantor from the template, a chain with a one-hour
deadline, then the in-process runner ticked under a clock the scenario moves. Prints what
happened as JSON."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

from tortoise.transactions import in_transaction

from danbao.config import REPO_ROOT, load_settings
from danbao.crypto.master_key import load_master_key
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Record, WorkflowInstance, WorkflowTimer
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.definitions import Bundle, load_bundle
from danbao.definitions.versions import publish
from danbao.jobs import InlineQueue
from danbao.provisioning import create_tenant, create_user
from danbao.tenancy.context import Principal, TenantContext, TenantId, tenant_scope
from danbao.workdays import CHINA, FixedClock
from danbao.workflow import sweep
from danbao.workflow.store import start_instance

TEMPLATE = REPO_ROOT / "tenants" / "_template"
PASSWORD = "Timers-test-2026"


async def main() -> dict[str, Any]:
    settings = load_settings()
    assert settings.mode == "embedded"
    await run_migrations(settings)
    await open_db(settings, "owner")
    try:
        tenant, _ = await create_tenant(
            "emb", TEMPLATE, admin_email="admin@emb.test", admin_password=PASSWORD, operator="t"
        )
        ctx = TenantContext(TenantId(tenant.id), "emb", Principal.system("scenario"))
        clock = FixedClock(dt.datetime(2026, 10, 12, 10, tzinfo=CHINA))
        with tenant_scope(ctx):
            async with in_transaction():
                sub = await create_user("sub@emb.test", "提交人", PASSWORD, ["account_manager"])
                risk = await create_user("risk@emb.test", "风控", PASSWORD, ["risk_officer"])
            files = load_bundle(TEMPLATE).to_dict()
            files["workflows/review.json"]["nodes"] = [
                {"id": "start", "type": "start", "name": {"zh-CN": "提交"}, "next": "first"},
                {
                    "id": "first",
                    "type": "approve",
                    "name": {"zh-CN": "风控审查"},
                    "assignees": [{"kind": "user", "value": "risk@emb.test"}],
                    "sla": {
                        "due": "PT1H",
                        "remind_every": "PT30M",
                        "remind_max": 1,
                        "on_timeout": "approve",
                    },
                    "next": "end",
                },
                {"id": "end", "type": "end", "name": {"zh-CN": "结束"}},
            ]
            bundle = Bundle.from_dict(files)
            version, _ = await publish(bundle)
            ids = []
            for _n in range(2):
                async with in_transaction():
                    record = await Record.create(
                        form_id="application",
                        form_version=version.number,
                        status="submitted",
                        data={"amount": 1},
                        created_by=sub.id,
                    )
                    answer = await start_instance(
                        bundle=bundle,
                        version=version.number,
                        workflow_id="review",
                        record_id=record.id,
                        submitter_id=sub.id,
                        data={"amount": 1},
                        idempotency_key=uuid.uuid4().hex,
                        clock=clock,
                    )
                ids.append(answer.instance_id)
        sweep.configure(TenantKeys(load_master_key(settings)), None, clock)
        queue = InlineQueue()
        clock.current += dt.timedelta(minutes=29)
        await sweep.tick(queue)
        await queue.drain()
        early = await _timers(ctx)
        clock.current += dt.timedelta(hours=1)
        await sweep.tick(queue)
        await sweep.tick(queue)  # the same minute: deduplicated
        await queue.drain()
        with tenant_scope(ctx):  # and two sweeps at once on SQLite
            both = await asyncio.gather(sweep.sweep(), sweep.sweep())
        await queue.close()
        with tenant_scope(ctx):
            async with in_transaction():
                statuses = await WorkflowInstance.filter(id__in=ids).values_list(
                    "status", flat=True
                )
        return {
            "early": early,
            "late": await _timers(ctx),
            "again": [r.fired for r in both],
            "statuses": sorted(statuses),  # type: ignore[arg-type]
            "failures": [f.error for f in queue.failures],
            "holder": str(risk.id) != "",
        }
    finally:
        await close_db()


async def _timers(ctx: TenantContext) -> list[list[str]]:
    with tenant_scope(ctx):
        async with in_transaction():
            rows = await WorkflowTimer.all().order_by("instance_id", "kind")
            return sorted([r.kind, r.status] for r in rows)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
