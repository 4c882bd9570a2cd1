"""The embedded job runner: jobs run as asyncio tasks in this process.

Same job functions, same checks and same JSON round trip as the arq queue, so code that
works here works with Redis. A failing job is logged and kept in ``failures``; it never
takes the process (or other jobs) down with it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from danbao.jobs.registry import DEDUP_SECONDS, JobRequest, prepare, run_job

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobFailure:
    job_id: str
    name: str
    tenant_id: str
    error: str


class InlineQueue:
    def __init__(self, *, dedup_seconds: float = DEDUP_SECONDS, max_failures: int = 1000) -> None:
        self._dedup_seconds = dedup_seconds
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._finished: dict[str, float] = {}  # job id -> monotonic finish time
        self.failures: deque[JobFailure] = deque(maxlen=max_failures)
        # Jobs start from the context the queue was made in, not the enqueuer's: a job must
        # not inherit a request's tenant, principal or open database transaction.
        self._origin = contextvars.copy_context()

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
        if defer_seconds < 0:
            raise ValueError("defer_seconds must not be negative")
        request = prepare(
            name, tenant_id=tenant_id, tenant_slug=tenant_slug, payload=payload, job_id=job_id
        )
        self._forget_old()
        if request.job_id in self._pending or request.job_id in self._finished:
            return request.job_id
        task = asyncio.create_task(
            self._run(request, defer_seconds),
            name=f"job:{request.job_id}",
            context=self._origin.copy(),
        )
        self._pending[request.job_id] = task
        # A callback, not a `finally` in _run: a task cancelled before it starts never runs.
        task.add_done_callback(functools.partial(self._finish, request.job_id))
        return request.job_id

    def _finish(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._pending.pop(job_id, None)
        self._finished[job_id] = time.monotonic()

    def _forget_old(self) -> None:
        horizon = time.monotonic() - self._dedup_seconds
        for job_id in [j for j, at in self._finished.items() if at < horizon]:
            del self._finished[job_id]

    async def _run(self, request: JobRequest, defer_seconds: float) -> None:
        try:
            if defer_seconds:
                await asyncio.sleep(defer_seconds)
            await run_job(request.name, request.tenant_id, request.tenant_slug, request.payload)
        except Exception as exc:
            logger.exception(
                "job %s failed",
                request.name,
                extra={"job_id": request.job_id, "job_tenant": request.tenant_id},
            )
            failure = JobFailure(request.job_id, request.name, request.tenant_id, repr(exc))
            self.failures.append(failure)

    async def drain(self) -> None:
        """Wait until every scheduled job, and every job those jobs enqueue, has finished."""
        while self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def close(self) -> None:
        """Cancel jobs that have not finished (call ``drain()`` first to let them finish)."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def health(self) -> dict[str, Any]:
        detail = f"inline runner: {len(self._pending)} pending, {len(self.failures)} failed"
        return {"ok": True, "detail": detail}
