"""The background job that moves a tenant's records to its newest data key.

After a rotation (``danbao.key_rotation``) new writes already use the new key; this job
walks the tenant's records in id order, a batch per transaction, and reseals every
envelope still under an older version. Each record is rewritten whole inside its batch's
transaction with the row locked, old envelope to new, so readers see either the old or
the new envelope and both decrypt (old key versions are never removed). The revision is
not bumped: a re-encryption changes no content, so a user editing the draft meanwhile
gets no conflict.

Then the tenant's guarantee projects, the same way (phase ``projects``): each project's
sealed borrower certificate number (``guarantee/borrower_seal.py``), the row locked and
rewritten in its batch's transaction, its version and ``updated_at`` untouched (a
re-encryption is not a move of the project: an approval decided before it still counts).

Resumable and idempotent: the job carries its phase and the last id it finished in its payload and,
after a time budget, enqueues its own continuation from there; a record already under
the target version is skipped, so running the job again (``danbao tenant reencrypt``)
after an interruption only finishes what is left. Every batch that changed something is
an audit event, and so is the end (with the totals).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.crypto.fields import DecryptError
from danbao.crypto.tenant_keys import DATA, KeyMissing, TenantKeys
from danbao.db.models import Project, Record
from danbao.guarantee import borrower_seal
from danbao.jobs import JobQueue, job
from danbao.records.sensitive import reseal
from danbao.tenancy.context import current_tenant

JOB = "keys.reencrypt"
RECORDS, PROJECTS = "records", "projects"
"""The job's phases, in order."""
BATCH = 200
TIME_BUDGET_SECONDS = 60.0


@dataclass
class _Runtime:
    keys: TenantKeys
    queue: JobQueue


_runtime: _Runtime | None = None


def configure(keys: TenantKeys, queue: JobQueue) -> None:
    """Give the job its key ring and queue (jobs receive only their JSON payload): called
    by ``Services.build`` for the web processes and by ``danbao worker`` / the CLI."""
    global _runtime
    _runtime = _Runtime(keys, queue)


def _configured() -> _Runtime:
    if _runtime is None:
        raise RuntimeError("records.reencrypt.configure() was not called in this process")
    return _runtime


@dataclass(frozen=True)
class Batch:
    examined: int
    resealed: int
    last_id: uuid.UUID | None
    broken: tuple[str, ...] = ()


async def reencrypt_batch(
    keys: TenantKeys, version: int, after: uuid.UUID | None, size: int = BATCH
) -> Batch:
    """Reseal the next ``size`` records after ``after`` under data key ``version``, in the
    caller's (the tenant's) transaction."""
    target = await keys.get(DATA, version)
    query = Record.all().order_by("id").limit(size).select_for_update()
    if after is not None:
        query = query.filter(id__gt=after)
    records = await query
    resealed = 0
    broken: list[str] = []
    for record in records:
        try:
            data = await reseal(keys, record.form_id, record.data, target)
        except (DecryptError, KeyMissing):
            # Already unreadable (altered, or moved from elsewhere): left exactly as it is,
            # named in the audit trail, and the rotation goes on with the others.
            broken.append(str(record.id))
            continue
        if data is not None:
            await Record.filter(id=record.id).update(data=data)
            resealed += 1
    last = records[-1].id if records else None
    return Batch(len(records), resealed, last, tuple(broken))


async def reencrypt_projects_batch(
    keys: TenantKeys, version: int, after: uuid.UUID | None, size: int = BATCH
) -> Batch:
    """Reseal the sealed borrower numbers of the next ``size`` projects after ``after``
    under data key ``version``, in the caller's (the tenant's) transaction."""
    target = await keys.get(DATA, version)
    query = Project.all().order_by("id").limit(size).select_for_update()
    if after is not None:
        query = query.filter(id__gt=after)
    projects = await query
    resealed = 0
    broken: list[str] = []
    for project in projects:
        try:
            sealed = await borrower_seal.reseal(keys, project.borrower_id_sealed, target)
        except (DecryptError, KeyMissing):  # left as it is and named, as for records
            broken.append(str(project.id))
            continue
        if sealed is not None:
            # A queryset update: neither ``version`` nor ``updated_at`` moves.
            await Project.filter(id=project.id).update(borrower_id_sealed=sealed)
            resealed += 1
    last = projects[-1].id if projects else None
    return Batch(len(projects), resealed, last, tuple(broken))


async def enqueue(
    queue: JobQueue,
    version: int,
    after: str | None = None,
    done: int = 0,
    *,
    batch: int = BATCH,
    phase: str = RECORDS,
    projects: int = 0,
) -> str:
    """Schedule the job for the tenant in context, after the key version has committed."""
    tenant = current_tenant()
    payload = {"version": version, "after": after, "done": done, "batch": batch}
    payload |= {"phase": phase, "projects": projects}
    return await queue.enqueue(
        JOB,
        tenant_id=tenant.tenant_id,
        tenant_slug=tenant.slug,
        payload=payload,
        job_id=f"{JOB}:{version}:{phase}:{after or 'start'}:{time.time_ns()}",
    )


@job(JOB)
async def reencrypt_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Batches until done or out of time (records, then projects); then the end's audit
    event, or a continuation."""
    runtime = _configured()
    version = int(payload["version"])
    after = uuid.UUID(payload["after"]) if payload.get("after") else None
    done = int(payload.get("done") or 0)
    projects = int(payload.get("projects") or 0)
    phase = str(payload.get("phase") or RECORDS)
    size = int(payload.get("batch") or BATCH)
    started = time.monotonic()
    while True:
        async with in_transaction():
            if phase == RECORDS:
                batch = await reencrypt_batch(runtime.keys, version, after, size)
                done += batch.resealed
            else:
                batch = await reencrypt_projects_batch(runtime.keys, version, after, size)
                projects += batch.resealed
            await _audit_batch(phase, version, batch)
            last_batch = batch.last_id is None or batch.examined < size
            if last_batch and phase == PROJECTS:
                await record_event(
                    "tenant_key.reencryption_finished",
                    "tenant_key",
                    f"data:{version}",
                    {"version": version, "records": done, "projects": projects},
                )
                return {"version": version, "records": done, "projects": projects, "finished": True}
        after = None if last_batch else batch.last_id
        phase = PROJECTS if last_batch else phase
        if time.monotonic() - started > TIME_BUDGET_SECONDS:
            resume = str(after) if after else None
            await enqueue(
                runtime.queue, version, resume, done, batch=size, phase=phase, projects=projects
            )
            return {"version": version, "records": done, "projects": projects, "finished": False}


async def _audit_batch(phase: str, version: int, batch: Batch) -> None:
    if batch.resealed:
        await record_event(
            f"{phase}.reencrypted",
            "tenant_key",
            f"data:{version}",
            {phase: batch.resealed, "examined": batch.examined},
        )
    if batch.broken:
        await record_event(
            f"{phase}.reencrypt_failed",
            "tenant_key",
            f"data:{version}",
            {phase: list(batch.broken)},
        )
