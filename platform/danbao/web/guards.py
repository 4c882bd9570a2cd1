"""What every tenant API handler checks first: the body is JSON, the caller may act."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from danbao.authz.enforcer import TenantEnforcer
from danbao.db.models import User
from danbao.definitions import Bundle
from danbao.web.errors import AuditNote, HttpError
from danbao.web.tenant_endpoint import caller_of, services_of

MAX_JSON_BYTES = 8 * 1024 * 1024


async def read_json(request: Request) -> Any:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HttpError(
            415, "bad_request", params={"detail": "Content-Type must be application/json"}
        )
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise HttpError(413, "bad_request", params={"detail": "body too large"})
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, "bad_request", params={"detail": str(exc)}) from exc


def check_allowed(enforcer: TenantEnforcer | None, user: User, resource: str, action: str) -> None:
    """403 and an audit event naming what was refused, unless the matrix grants it."""
    if enforcer is None or not enforcer.allowed(user.roles, resource, action):
        note = AuditNote("authz.denied", "resource", resource, {"action": action})
        raise HttpError(403, "forbidden", audit=note)


async def require(request: Request, resource: str, action: str) -> User:
    """The caller, if the tenant's compiled matrix grants ``action`` on ``resource``; else
    403 and an audit event naming what was refused."""
    user: User = caller_of(request).user
    active = await services_of(request).enforcer()
    check_allowed(active[2] if active else None, user, resource, action)
    return user


async def require_active(
    request: Request, resource: str, action: str
) -> tuple[Bundle, TenantEnforcer, User]:
    """Like ``require``, with the tenant's current definitions and compiled matrix."""
    user: User = caller_of(request).user
    active = await services_of(request).enforcer()
    check_allowed(active[2] if active else None, user, resource, action)
    assert active is not None  # check_allowed refused otherwise
    return active[1], active[2], user
