"""Run by tests/test_embedded_inbox.py in a process of its own (Tortoise is per process):
the embedded mode's SQLite database, a guarantor from the template, a chain whose first
node is a pool to claim (认领) and which copies (抄送) a third person; three approvals, two
claimed and approved. Prints the inbox tabs as the database answers them (counts, pages,
filters) as JSON: 抄送我的 uses json1 on SQLite, not PostgreSQL's jsonb containment."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

from tortoise.transactions import in_transaction

from danbao.config import REPO_ROOT, load_settings
from danbao.db.models import Record
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.definitions import Bundle, load_bundle
from danbao.definitions.versions import publish
from danbao.provisioning import create_tenant, create_user
from danbao.tenancy.context import Principal, TenantContext, TenantId, tenant_scope
from danbao.workdays import CHINA
from danbao.workflow import Action
from danbao.workflow.listing import Filters, tab_counts, tab_page
from danbao.workflow.store import act_on, current, start_instance

TEMPLATE = REPO_ROOT / "tenants" / "_template"
PASSWORD = "Inbox-test-2026"


async def main() -> dict[str, Any]:
    settings = load_settings()
    assert settings.mode == "embedded"
    await run_migrations(settings)
    await open_db(settings, "owner")
    try:
        tenant, _ = await create_tenant(
            "inb", TEMPLATE, admin_email="admin@inb.test", admin_password=PASSWORD, operator="t"
        )
        ctx = TenantContext(TenantId(tenant.id), "inb", Principal.system("scenario"))
        with tenant_scope(ctx):
            async with in_transaction():
                sub = await create_user("sub@inb.test", "提交人", PASSWORD, ["account_manager"])
                one = await create_user("one@inb.test", "甲", PASSWORD, ["risk_officer"])
                two = await create_user("two@inb.test", "乙", PASSWORD, ["risk_officer"])
                fin = await create_user("fin@inb.test", "财务", PASSWORD, ["finance"])
            files = load_bundle(TEMPLATE).to_dict()
            files["workflows/review.json"]["nodes"] = [
                {"id": "start", "type": "start", "name": {"zh-CN": "提交"}, "next": "pool"},
                {
                    "id": "pool",
                    "type": "approve",
                    "name": {"zh-CN": "风控认领"},
                    "assignees": [{"kind": "role", "value": "risk_officer"}],
                    "claim": True,
                    "next": "cc",
                },
                {
                    "id": "cc",
                    "type": "copy",
                    "name": {"zh-CN": "抄送财务"},
                    "assignees": [{"kind": "user", "value": "fin@inb.test"}],
                    "next": "end",
                },
                {"id": "end", "type": "end", "name": {"zh-CN": "结束"}},
            ]
            bundle = Bundle.from_dict(files)
            version, _ = await publish(bundle)
            ids = []
            for _n in range(3):
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
                    )
                ids.append(answer.instance_id)
            for instance in ids[:2]:
                for op in ("claim", "approve"):
                    async with in_transaction():
                        view = await current(uuid.UUID(instance))
                        task = next(t for t in view["tasks"] if t["user"] == str(one.id))
                        await act_on(
                            uuid.UUID(instance),
                            Action(op, str(one.id), task=task["task"], version=task["version"]),
                            bundle=bundle,
                            data={"amount": 1},
                            idempotency_key=uuid.uuid4().hex,
                        )
            now = dt.datetime.now(dt.UTC)

            async def page(user: Any, tab: Any, **kw: Any) -> list[Any]:
                per_page = kw.pop("per_page", 20)
                number = kw.pop("page", 1)
                async with in_transaction():
                    items, total = await tab_page(
                        user.id, tab, Filters(**kw), now=now, zone=CHINA, page=number,
                        per_page=per_page,
                    )  # fmt: skip
                return [[i.instance for i in items], total]

            async def counts(user: Any) -> dict[str, int]:
                async with in_transaction():
                    return dict(await tab_counts(user.id))

            return {
                "ids": ids,
                "counts": {"one": await counts(one), "two": await counts(two),
                           "fin": await counts(fin)},
                "claimable_two": await page(two, "claimable"),
                "done_one_p1": await page(one, "done", per_page=1),
                "done_one_p2": await page(one, "done", per_page=1, page=2),
                "copied_fin": await page(fin, "copied"),
                "copied_fin_by_name": await page(fin, "copied", submitter="提交"),
                "copied_fin_nobody": await page(fin, "copied", submitter="nobody"),
                "copied_fin_old": await page(fin, "copied", date_to=dt.date(2020, 1, 1)),
                "copied_fin_form": await page(fin, "copied", form="application"),
                "copied_fin_other_form": await page(fin, "copied", form="due_diligence"),
                "copied_one": await page(one, "copied"),
            }  # fmt: skip
    finally:
        await close_db()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
