"""The job that carries out a record migration run or its rollback.

Enqueued with the run's id as the job id (``migration:<run>:<action>``), so a repeated
request is deduplicated by the queue, and the run's own state (claimed in a committed
transaction before any record is touched) makes a second delivery a no-op anyway.
"""

from __future__ import annotations

import uuid
from typing import Any

from danbao.config import load_settings
from danbao.crypto.master_key import load_master_key
from danbao.crypto.tenant_keys import TenantKeys
from danbao.jobs import JobQueue, job
from danbao.records.migration import apply_run, rollback_run

JOB = "records.migration"
APPLY = "apply"
ROLLBACK = "rollback"

_keys: TenantKeys | None = None


def use_keys(keys: TenantKeys) -> None:
    """The key ring migration jobs of this process use: the app's own (its settings name
    the master key), else one built from the environment on first use (a worker)."""
    global _keys
    _keys = keys


def key_ring() -> TenantKeys:
    """The key ring jobs of this process open records with (approval migrations too)."""
    global _keys
    if _keys is None:
        _keys = TenantKeys(load_master_key(load_settings()))
    return _keys


@job(JOB)
async def run_migration(payload: dict[str, Any]) -> str:
    run_id = uuid.UUID(str(payload["run"]))
    if payload.get("action") == ROLLBACK:
        return await rollback_run(key_ring(), run_id)
    return await apply_run(key_ring(), run_id, locale=str(payload.get("locale") or "zh-CN"))


async def enqueue(
    queue: JobQueue,
    *,
    tenant_id: uuid.UUID,
    tenant_slug: str,
    run_id: uuid.UUID,
    action: str,
    locale: str,
) -> str:
    return await queue.enqueue(
        JOB,
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        payload={"run": str(run_id), "action": action, "locale": locale},
        job_id=f"migration:{run_id}:{action}",
    )
