"""The job that moves the approvals of a planned run (see :mod:`.migrations`).

The run is claimed (queued -> running) in a committed transaction before any approval is
touched, so a second delivery does nothing; each approval's move carries its own
idempotency key, so a run started again after a failure moves nothing twice. The job id
carries a fresh suffix: a failed run queued again within the hour is not deduplicated
away by the queue.
"""

from __future__ import annotations

import uuid
from typing import Any

from danbao.ids import new_id
from danbao.jobs import JobQueue, job
from danbao.records.migration_job import key_ring

from .migrations import apply_run

JOB = "workflows.migration"


@job(JOB)
async def run_workflow_migration(payload: dict[str, Any]) -> str:
    return await apply_run(key_ring(), uuid.UUID(str(payload["run"])))


async def enqueue(
    queue: JobQueue, *, tenant_id: uuid.UUID, tenant_slug: str, run_id: uuid.UUID
) -> str:
    return await queue.enqueue(
        JOB,
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        payload={"run": str(run_id)},
        job_id=f"workflow-migration:{run_id}:{new_id().hex[-12:]}",
    )
