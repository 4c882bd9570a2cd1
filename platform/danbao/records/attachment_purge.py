"""Removing the attachments nobody holds, as the job ``attachments.purge`` (one tenant a run).

Two kinds go: rows whose upload expired without a record linking it (retired and withdrawn
ones expire at once), with their stored file and object; and objects under
``attachments/`` that have no row at all (an upload whose transaction rolled back after
its bytes were stored), once they are an hour old, judged by the time in their UUIDv7 id,
so an upload still in flight is never touched. Uploads, withdrawals and saves of forms
with attachment fields enqueue a run (``schedule``), at most one an hour per tenant.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.config import load_settings
from danbao.db.models import Attachment, StoredFile
from danbao.jobs import JobQueue, job
from danbao.records.attachments import KEY_PREFIX, now, object_key
from danbao.storage import ObjectStore, open_store
from danbao.tenancy.context import current_tenant

JOB = "attachments.purge"
BATCH = 200
ORPHAN_AGE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class PurgeReport:
    removed: int
    orphans: int


async def purge(store: ObjectStore, *, at: datetime.datetime | None = None) -> PurgeReport:
    """Remove the tenant in context's expired uploads and orphaned objects."""
    at = at or now()
    removed = 0
    while True:
        async with in_transaction():
            rows = (
                await Attachment.filter(record_id=None, expires_at__lte=at)
                .order_by("expires_at")
                .limit(BATCH)
                .select_for_update()
            )
            for row in rows:
                await _remove(store, row)
        removed += len(rows)
        if len(rows) < BATCH:
            break
    return PurgeReport(removed, await _purge_orphans(store, at))


async def _remove(store: ObjectStore, row: Attachment) -> None:
    # Rows first, the object last: a failure leaves an unusable row for the next run,
    # never a usable row without its bytes.
    await Attachment.filter(id=row.id, record_id=None).delete()
    await StoredFile.filter(id=row.file_id).delete()
    await store.delete(object_key(row.id))
    await record_event(
        "attachment.purged",
        "attachment",
        str(row.id),
        {"form": row.form_id, "field": row.field_key},
    )


def _created_at(attachment_id: uuid.UUID) -> datetime.datetime | None:
    if attachment_id.version != 7:
        return None
    milliseconds = attachment_id.int >> 80
    return datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.UTC)


async def _purge_orphans(store: ObjectStore, at: datetime.datetime) -> int:
    old: dict[str, uuid.UUID] = {}
    for key in await store.list(KEY_PREFIX):
        try:
            attachment_id = uuid.UUID(key.removeprefix(KEY_PREFIX))
        except ValueError:
            continue
        created = _created_at(attachment_id)
        if created is not None and created < at - ORPHAN_AGE:
            old[key] = attachment_id
    count = 0
    keys = sorted(old)
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        async with in_transaction():
            known = set(await StoredFile.filter(key__in=batch).values_list("key", flat=True))
            for key in batch:
                if key in known:
                    continue
                await store.delete(key)
                await record_event("attachment.orphan_removed", "attachment", str(old[key]))
                count += 1
    return count


@job(JOB)
async def purge_job(payload: dict[str, Any]) -> dict[str, int]:
    report = await purge(open_store(load_settings()))
    return {"removed": report.removed, "orphans": report.orphans}


async def schedule(queue: JobQueue) -> str:
    """A purge of the tenant in context now, at most once an hour (the id names the hour).

    Never deferred: a job waiting a day in the queue would keep a burst worker (tests, a
    one-off drain) from ever finding the queue empty. So uploads, withdrawals and saves of
    forms with attachment fields trigger it, and an expired upload goes on the tenant's
    next such action an hour or more after it expired.
    """
    ctx = current_tenant()
    return await queue.enqueue(
        JOB,
        tenant_id=ctx.tenant_id,
        tenant_slug=ctx.slug,
        payload={},
        job_id=f"{JOB}:{now():%Y%m%d%H}",
    )
