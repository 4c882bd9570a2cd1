"""The caller's notification list (internal; a messaging plug-in also sends them when the
tenant enabled one): list, newest first, and mark read. Every signed-in user has their own;
nobody reads another's."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.db.models import Notification, User
from danbao.web.errors import HttpError
from danbao.web.guards import read_json, require
from danbao.web.notify import deliver_ids_later
from danbao.web.tenant_endpoint import caller_of, tenant_endpoint
from danbao.workflow.deliver import failed_since

MAX_LIMIT = 200
MAX_RESEND_DAYS = 30


def _view(row: Notification) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "params": row.params,
        "instance": str(row.instance_id) if row.instance_id else None,
        "read": row.read_at is not None,
        "delivery": row.delivery,
        "delivery_error": row.delivery_error,
        "created_at": row.created_at.isoformat(),
    }


@tenant_endpoint()
async def notifications_list(request: Request) -> Response:
    """
    summary: The caller's notifications, newest first, and how many are unread
    tags: [notifications]
    parameters:
      - {name: unread, in: query, schema: {type: boolean}, description: only the unread ones}
      - {name: limit, in: query, schema: {type: integer, maximum: 200}}
    responses:
      200:
        description: >-
          {items: [{id, kind, title, body, params, instance, read, delivery, delivery_error}],
          unread}; delivery_error says why a failed one was not sent (no_wecom_userid,
          no_mobile, rejected, plugin_<code>)
      400: {description: A limit that is not a number from 1 to 200}
    """
    user: User = caller_of(request).user
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise HttpError(400, "bad_request", params={"detail": "limit: 1-200"})
    query = Notification.filter(user_id=user.id)
    unread = await query.filter(read_at__isnull=True).count()
    if request.query_params.get("unread") in ("1", "true"):
        query = query.filter(read_at__isnull=True)
    rows = await query.order_by("-created_at", "-id").limit(limit)
    return JSONResponse({"items": [_view(row) for row in rows], "unread": unread})


@tenant_endpoint()
async def notifications_read(request: Request) -> Response:
    """
    summary: Mark some or all of the caller's notifications read
    tags: [notifications]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              ids: {type: array, items: {type: string}, maxItems: 500}
              all: {type: boolean}
    responses:
      200: {description: "{marked}: how many were unread and are read now"}
      400: {description: "Neither ids nor all, or an id that is not one"}
    """
    user: User = caller_of(request).user
    body = await read_json(request)
    if not isinstance(body, dict) or not (body.get("all") is True or "ids" in body):
        raise HttpError(
            400, "bad_request", params={"detail": "expected {ids: [...]} or {all: true}"}
        )
    query = Notification.filter(user_id=user.id, read_at__isnull=True)
    if body.get("all") is not True:
        ids = body["ids"]
        if not isinstance(ids, list) or len(ids) > 500:
            raise HttpError(400, "bad_request", params={"detail": "ids: a list of at most 500"})
        try:
            wanted = [uuid.UUID(str(i)) for i in ids]
        except ValueError as exc:
            raise HttpError(400, "bad_request", params={"detail": f"ids: {exc}"}) from exc
        query = query.filter(id__in=wanted)
    marked = await query.update(read_at=dt.datetime.now(dt.UTC))
    if marked:
        await record_event("notification.read", "user", str(user.id), {"marked": marked})
    return JSONResponse({"marked": marked})


@tenant_endpoint()
async def notifications_resend(request: Request) -> Response:
    """
    summary: Send again the tenant's failed notifications of the last days (e.g. after
      people's WeCom ids or mobiles were filled in)
    tags: [notifications]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              days: {type: integer, minimum: 1, maximum: 30, default: 7}
    responses:
      200: {description: "{resending}: how many are sent again (at most 500 a call, oldest first)"}
      400: {description: days not a whole number from 1 to 30}
      403: {description: Needs admin:users update}
    """
    await require(request, "admin:users", "update")
    body = await read_json(request) if await request.body() else {}
    days = body.get("days", 7) if isinstance(body, dict) else None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RESEND_DAYS:
        raise HttpError(400, "bad_request", params={"detail": "/days: a whole number 1-30"})
    claimed = await failed_since(days)
    return JSONResponse({"resending": len(claimed)}, background=deliver_ids_later(request, claimed))


ROUTES = [
    Route("/notifications", notifications_list, methods=["GET"]),
    Route("/notifications/read", notifications_read, methods=["POST"]),
    Route("/notifications/resend", notifications_resend, methods=["POST"]),
]
