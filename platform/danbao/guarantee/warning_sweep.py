"""The nightly early-warning sweep: the job ``guarantee.warnings`` (one tenant a run)
checks every project 在保 for overdue instalments (``warnings.check`` without the court
re-check, a paid query that stays on request) and moves those with a signal to the watch
list, notifying their owners — as the system actor ``job:guarantee.warnings``.

Each project is checked in a transaction of its own under its row lock, so one failure
rolls back alone and a project moved meanwhile is skipped. The long-running arq worker
enqueues the run every night (:func:`cron_job`, 01:30 China time); the embedded mode has
no nightly tick yet (``…/warnings/check`` on request).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from arq.cron import CronJob, cron
from tortoise.transactions import in_transaction

from danbao.db.models import DefinitionVersion, Project, Tenant
from danbao.forms.identifiers import today_in_china
from danbao.jobs import JobQueue, job
from danbao.workflow.deliver import deliver

from . import warnings
from .service import SystemActor
from .states import State

JOB = "guarantee.warnings"
ACTOR = SystemActor(f"job:{JOB}")


async def sweep(today: dt.date | None = None) -> dict[str, int]:
    """Check the tenant-in-context's projects in force; how many were checked and raised."""
    day = today or today_in_china()
    async with in_transaction():
        head = await DefinitionVersion.filter().order_by("-number").first()
        ids = list(await Project.filter(state=State.ACTIVE.value).values_list("id", flat=True))
    tenant: dict[str, Any] = head.bundle.get("tenant.json", {}) if head else {}
    checked = raised = 0
    sent: list[str] = []
    for project_id in ids:
        async with in_transaction():
            project = await Project.filter(id=project_id).select_for_update().first()
            if project is None or project.state != State.ACTIVE.value:
                continue
            found = await warnings.check(
                project,
                tenant=tenant,
                gateway=None,
                form={},
                data={},
                user=ACTOR,
                today=day,
            )
        checked += 1
        raised += int(found.answer["raised"])
        sent += found.sent
    from danbao.workflow.sweep import runtime  # the call path the worker set up

    gateway = runtime().gateway
    if gateway is not None and sent:
        await deliver(gateway, sent)
    return {"checked": checked, "raised": raised}


@job(JOB)
async def run_sweep(payload: dict[str, Any]) -> dict[str, int]:
    return await sweep()


async def tick(queue: JobQueue) -> int:
    """Enqueue one sweep per active tenant, once a day whoever ticks."""
    day = today_in_china().isoformat()
    tenants = await Tenant.filter(status="active").values_list("id", "slug")
    for tenant_id, slug in tenants:
        await queue.enqueue(
            JOB, tenant_id=tenant_id, tenant_slug=slug, payload={}, job_id=f"warnings:{day}"
        )
    return len(tenants)


def cron_job(queue: JobQueue) -> CronJob:
    """The long-running worker's nightly tick (17:30 UTC is 01:30 in China)."""

    async def tick_now(ctx: dict[str, Any]) -> None:
        await tick(queue)

    return cron(
        tick_now, name="cron:guarantee.warnings.tick", hour=17, minute=30, second=0, unique=True
    )
