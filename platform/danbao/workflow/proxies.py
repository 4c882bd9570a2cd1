"""Standing proxies (代理): while someone is on leave, from one China date to another
(inclusive), their new approval tasks go to the person they named, recorded as "proxy for
X". One step only: a proxy's own proxy is not followed. Tasks already open stay where they
are (an administrator moves them with a reassignment). Revoked, never deleted; every
change is an audit event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from danbao.audit import record_event
from danbao.db.models import User, WorkflowProxy
from danbao.workdays import CHINA, Clock, SystemClock

MAX_DAYS = 366


@dataclass(frozen=True)
class ProxyInvalid(ValueError):
    pointer: str
    message: str


def today(clock: Clock | None = None) -> dt.date:
    return (clock or SystemClock()).now().astimezone(CHINA).date()


async def active(on: dt.date) -> dict[str, str]:
    """user id -> proxy id, for the proxies in force on ``on``."""
    rows = await WorkflowProxy.filter(
        starts_on__lte=on, ends_on__gte=on, revoked_at__isnull=True
    ).values("user_id", "proxy_id")
    return {str(r["user_id"]): str(r["proxy_id"]) for r in rows}


def view(row: WorkflowProxy) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "user": str(row.user_id),
        "proxy": str(row.proxy_id),
        "starts_on": row.starts_on.isoformat(),
        "ends_on": row.ends_on.isoformat(),
        "revoked": row.revoked_at is not None,
    }


async def name_proxy(
    *,
    user: User,
    proxy: User,
    starts_on: dt.date,
    ends_on: dt.date,
    by: uuid.UUID,
    clock: Clock | None = None,
) -> tuple[WorkflowProxy, bool]:
    """The proxy row and whether it is new (the same request again answers the same row)."""
    if proxy.id == user.id:
        raise ProxyInvalid("/proxy", "a proxy is someone else")
    if not proxy.is_active:
        raise ProxyInvalid("/proxy", "the proxy is not an active user")
    if ends_on < starts_on:
        raise ProxyInvalid("/ends_on", "ends before it starts")
    if ends_on < today(clock):
        raise ProxyInvalid("/ends_on", "already over")
    if (ends_on - starts_on).days >= MAX_DAYS:
        raise ProxyInvalid("/ends_on", f"at most {MAX_DAYS} days")
    live = await WorkflowProxy.filter(
        user_id=user.id, revoked_at__isnull=True, starts_on__lte=ends_on, ends_on__gte=starts_on
    )
    for row in live:
        if (row.proxy_id, row.starts_on, row.ends_on) == (proxy.id, starts_on, ends_on):
            return row, False
    if live:
        raise ProxyInvalid("/starts_on", "overlaps another proxy of this user; revoke it first")
    row = await WorkflowProxy.create(
        user_id=user.id, proxy_id=proxy.id, starts_on=starts_on, ends_on=ends_on, created_by=by
    )
    await record_event("workflow.proxy_named", "workflow_proxy", str(row.id), view(row))
    return row, True


async def revoke(row: WorkflowProxy, clock: Clock | None = None) -> None:
    if row.revoked_at is not None:
        return  # revoking twice changes nothing
    row.revoked_at = (clock or SystemClock()).now()
    await WorkflowProxy.filter(id=row.id).update(revoked_at=row.revoked_at)
    await record_event("workflow.proxy_revoked", "workflow_proxy", str(row.id), view(row))


async def of_user(user_id: uuid.UUID, clock: Clock | None = None) -> list[dict[str, Any]]:
    """The user's proxies and those they stand in for, not yet over nor revoked."""
    rows = await WorkflowProxy.filter(revoked_at__isnull=True, ends_on__gte=today(clock))
    mine = [r for r in rows if user_id in (r.user_id, r.proxy_id)]
    return [view(r) for r in sorted(mine, key=lambda r: (r.starts_on, str(r.id)))]
