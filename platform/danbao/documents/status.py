"""A document's status (valid, released 解保, revoked): what its public page shows."""

from __future__ import annotations

import datetime as dt

from danbao.audit import record_event
from danbao.db.models import ProjectDocument

STATUSES = ("valid", "released", "revoked")


async def set_status(row: ProjectDocument, status: str, reason: str) -> None:
    """Change a document's status, audited ``document.status_changed``."""
    before = row.status
    row.status = status
    row.status_changed_at = dt.datetime.now(dt.UTC)
    await ProjectDocument.filter(tenant_id=row.tenant_id, id=row.id).update(
        status=row.status, status_changed_at=row.status_changed_at
    )
    await record_event(
        "document.status_changed",
        "project_document",
        str(row.id),
        {"from": before, "to": row.status, "reason": reason[:500]},
    )
