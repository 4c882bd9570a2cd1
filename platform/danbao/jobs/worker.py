"""The arq worker process: pulls ``danbao_run`` jobs from Redis and runs them.

Job modules register themselves on import (``@job``); import them before starting the
worker. ``on_startup`` / ``on_shutdown`` receive arq's context dict and are where the
caller opens and closes the database.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.worker import Worker

from danbao.jobs.arq_queue import dumps, loads
from danbao.jobs.registry import DEDUP_SECONDS, run_job

Hook = Callable[[dict[str, Any]], Awaitable[None]]


async def danbao_run(
    ctx: dict[str, Any], name: str, tenant_id: str, tenant_slug: str, payload: dict[str, Any]
) -> None:
    await run_job(name, tenant_id, tenant_slug, payload)
    # The job's return value is dropped: arq would keep it in Redis for an hour, and a
    # tenant's data has no business sitting in a result key.


def worker_settings(
    redis_url: str,
    *,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    cron_jobs: Sequence[CronJob] = (),
) -> dict[str, Any]:
    """Keyword arguments for ``arq.worker.Worker``. Cron jobs only for long-running workers:
    they would keep a burst worker alive."""
    return {
        "cron_jobs": list(cron_jobs) or None,
        "functions": [danbao_run],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "job_serializer": dumps,
        "job_deserializer": loads,
        "health_check_interval": 60,
        "keep_result": DEDUP_SECONDS,
        "log_results": False,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
    }


@dataclass(frozen=True)
class WorkerRun:
    complete: int
    failed: int
    retried: int


async def run_worker(
    redis_url: str,
    *,
    burst: bool = False,
    poll_delay: float = 0.5,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    cron_jobs: Sequence[CronJob] = (),
) -> WorkerRun:
    """Run until SIGINT/SIGTERM or, with ``burst``, until the queue is empty (a burst
    worker runs no cron jobs)."""
    settings = worker_settings(
        redis_url,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        cron_jobs=() if burst else cron_jobs,
    )
    worker = Worker(
        **settings,
        burst=burst,
        poll_delay=poll_delay,
        handle_signals=not burst,
    )
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we were cancelled, not merely the worker stopped by a signal
    finally:
        with warnings.catch_warnings():
            # arq 0.28 closes its pool with redis-py's deprecated close(); harmless.
            warnings.filterwarnings(
                "ignore", message="Call to deprecated close", category=DeprecationWarning
            )
            await worker.close()
    return WorkerRun(worker.jobs_complete, worker.jobs_failed, worker.jobs_retried)
