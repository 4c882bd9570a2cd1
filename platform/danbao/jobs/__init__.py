"""Background jobs behind one small interface: in-process (embedded) or arq on Redis.

Define a job with ``@job("name")``; enqueue it with ``queue.enqueue(name, tenant_id=…,
tenant_slug=…, payload={…})``. Both queues run the same functions in the tenant's context.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from danbao.config import Settings
from danbao.jobs.arq_queue import ArqQueue
from danbao.jobs.inline import InlineQueue, JobFailure
from danbao.jobs.registry import (
    JobFunction,
    TenantMismatch,
    UnknownJob,
    get_job,
    job,
    registered_jobs,
)

__all__ = [
    "ArqQueue",
    "InlineQueue",
    "JobFailure",
    "JobFunction",
    "JobQueue",
    "TenantMismatch",
    "UnknownJob",
    "get_job",
    "job",
    "open_queue",
    "registered_jobs",
]


class JobQueue(Protocol):
    async def enqueue(
        self,
        name: str,
        *,
        tenant_id: uuid.UUID | str,
        tenant_slug: str,
        payload: dict[str, Any],
        job_id: str | None = None,
        defer_seconds: float = 0,
    ) -> str:
        """Schedule job ``name`` for the tenant; return its (tenant-scoped) job id.

        Enqueueing an id that is pending, or finished within the last hour, does nothing.
        A payload that is not JSON raises TypeError.
        """
        ...

    async def close(self) -> None: ...

    async def health(self) -> dict[str, Any]: ...


def open_queue(settings: Settings) -> JobQueue:
    if settings.redis_url:
        return ArqQueue(settings.redis_url)
    return InlineQueue()
