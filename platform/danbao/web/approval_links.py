"""What a record's page says about its approval: a link to the running or last approval,
or — for its submitter, once submitted — the button that starts one (posting to the
approvals API from ``static/approval_start.js``)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request

from danbao.db.models import Record, User, WorkflowInstance
from danbao.records.actions import SUBMITTED
from danbao.web.tenant_endpoint import cookie_path, services_of


async def record_approval(request: Request, record: Record, user: User) -> dict[str, Any] | None:
    base = cookie_path(request).rstrip("/")
    latest = await WorkflowInstance.filter(record_id=record.id).order_by("-created_at").first()
    if latest is not None and latest.status not in ("cancelled",):
        return {"url": f"{base}/approvals/{latest.id}", "status": latest.status}
    if record.status != SUBMITTED or record.created_by != user.id:
        return None
    active = await services_of(request).enforcer()
    chains = active[1].workflows if active else {}
    if not any(chain.get("form") == record.form_id for chain in chains.values()):
        return None
    return {
        "start_url": f"{base}/api/forms/{record.form_id}/records/{record.id}/approval",
        "approvals": f"{base}/approvals/",
        "key": uuid.uuid4().hex,
    }
