"""Service tickets over HTTP for staff: ``/t/{slug}/api/tickets`` and a project's
``/projects/{id}/tickets``.

Staff see the tickets of the projects they see (``guarantee.access``) and those assigned
to them; a ticket outside that, or of another tenant, is a 404 like one that does not
exist. Rights come from the tenant's matrix on ``ticket:*``: read, create, reply, assign,
update (the status actions).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from danbao.authz.enforcer import TenantEnforcer
from danbao.db.models import ServiceTicket, TicketReply, User
from danbao.definitions import Bundle
from danbao.guarantee.access import visible_projects
from danbao.tickets import service, sla
from danbao.tickets.service import Actor
from danbao.tickets.states import ACTIONS, LIVE, Status, status_name
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import read_json, require_active
from danbao.web.notify import deliver_ids_later
from danbao.web.tenant_endpoint import tenant_endpoint
from danbao.web.ticket_refusals import REFUSED, found, refusal

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
RESOURCE = "ticket:*"


async def _active(request: Request, action: str) -> tuple[Bundle, TenantEnforcer, User]:
    return await require_active(request, RESOURCE, action)


async def visible_tickets(enforcer: TenantEnforcer, user: User) -> QuerySet[ServiceTicket]:
    """The tickets of the projects the caller sees, and those assigned to them."""
    mine = Q(assignee_id=user.id)
    projects = await visible_projects(enforcer, user)
    if projects is None:
        return ServiceTicket.filter(mine)
    return ServiceTicket.filter(
        Q(mine, Q(project_id__in=Subquery(projects.values("id"))), join_type=Q.OR)
    )


def overdue_filter(rows: QuerySet[ServiceTicket], now: dt.datetime) -> QuerySet[ServiceTicket]:
    """The live tickets past their response (not yet answered) or resolution due time."""
    unanswered = Q(first_response_at__isnull=True, respond_due_at__lt=now)
    late = Q(unanswered, Q(resolve_due_at__lt=now), join_type=Q.OR)
    return rows.filter(late, status__in=[s.value for s in LIVE])


def _uuid(raw: Any, pointer: str | None = None) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        if pointer is None:
            raise HttpError(404, "not_found") from exc
        raise HttpError(
            422, "invalid", details=[{"pointer": pointer, "message": "a UUID"}]
        ) from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ticket_json(ticket: ServiceTicket, locale: str, now: dt.datetime) -> dict[str, Any]:
    resolved = ticket.resolved_at or ticket.closed_at
    return {
        "id": str(ticket.id),
        "number": ticket.number,
        "project_id": str(ticket.project_id),
        "subject": ticket.subject,
        "category": ticket.category,
        "priority": ticket.priority,
        "status": {"code": ticket.status, "name": status_name(ticket.status, locale)},
        "version": ticket.version,
        "opened_by": {"kind": ticket.opened_by_kind, "id": str(ticket.opened_by)},
        "assignee_id": str(ticket.assignee_id) if ticket.assignee_id else None,
        "sla": {
            "respond": {
                "due_at": ticket.respond_due_at.isoformat(),
                "standing": sla.standing(ticket.respond_due_at, ticket.first_response_at, now),
            },
            "resolve": {
                "due_at": ticket.resolve_due_at.isoformat(),
                "standing": sla.standing(ticket.resolve_due_at, resolved, now),
            },
        },
        "first_response_at": _iso(ticket.first_response_at),
        "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at),
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def reply_json(row: TicketReply) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "author": {"kind": row.author_kind, "id": str(row.author_id)},
        "body": row.body,
        "internal": row.internal,
        "at": row.at.isoformat(),
    }


def _int_param(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name) or default)
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": f"{name}: a number"}) from exc


@tenant_endpoint()
async def tickets_index(request: Request) -> Response:
    """
    summary: The tickets the caller sees (?status=&mine=1&overdue=1&project_id=&page=&per_page=)
    description: >-
      Newest first. overdue=1 keeps the live tickets past their response or resolution
      due time; mine=1 those assigned to the caller.
    tags: [tickets]
    responses:
      200: {description: "{items, total, page, per_page}"}
      400: {description: Bad parameters}
      403: {description: Not allowed (needs ticket:* read)}
    """
    _, enforcer, user = await _active(request, "read")
    params = request.query_params
    page, per_page = (
        _int_param(request, "page", 1),
        _int_param(request, "per_page", DEFAULT_PER_PAGE),
    )
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        detail = f"page >= 1, per_page 1-{MAX_PER_PAGE}"
        raise HttpError(400, "bad_request", params={"detail": detail})
    rows = await visible_tickets(enforcer, user)
    status = params.get("status") or None
    if status is not None:
        if status not in {s.value for s in Status}:
            detail = "status: one of " + ", ".join(s.value for s in Status)
            raise HttpError(400, "bad_request", params={"detail": detail})
        rows = rows.filter(status=status)
    if params.get("mine") in ("1", "true"):
        rows = rows.filter(assignee_id=user.id)
    if params.get("project_id"):
        rows = rows.filter(project_id=_uuid(params["project_id"]))
    now = _now()
    if params.get("overdue") in ("1", "true"):
        rows = overdue_filter(rows, now)
    total = await rows.count()
    items = await rows.order_by("-created_at", "-id").offset((page - 1) * per_page).limit(per_page)
    locale = locale_of(request)
    return JSONResponse(
        {
            "items": [ticket_json(t, locale, now) for t in items],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


@tenant_endpoint()
async def ticket_open(request: Request) -> Response:
    """
    summary: Open a ticket on a project ({subject, category, priority?, body, assignee_id?})
    description: >-
      Unless assignee_id names someone, the project's account manager answers it; the
      response and resolution due times follow the priority's SLA on the tenant's
      working calendar. The assignee is notified (and through the messaging plug-in).
    tags: [tickets]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [subject, category, body]
            properties:
              subject: {type: string, maxLength: 200}
              category:
                type: string
                enum: [consult, documents, change, repayment, complaint, other]
              priority: {type: string, enum: [low, normal, high, urgent]}
              body: {type: string, maxLength: 5000}
              assignee_id: {type: string, format: uuid}
    responses:
      201: {description: The ticket}
      403: {description: Not allowed (needs ticket:* create)}
      404: {description: No such project in the caller's scope}
      422: {description: "Bad fields; details list {pointer, message}"}
    """
    bundle, enforcer, user = await _active(request, "create")
    projects = await visible_projects(enforcer, user)
    project_id = _uuid(request.path_params["project_id"])
    project = await projects.filter(id=project_id).first() if projects is not None else None
    if project is None:
        raise HttpError(404, "not_found")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    assignee = None
    if body.get("assignee_id") is not None:
        assignee = await assignee_of(enforcer, body["assignee_id"])
    try:
        change = await service.open_ticket(
            bundle.tenant, project, Actor("staff", user.id), body, now=_now(), assignee=assignee
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _answer(request, change, status_code=201)


async def assignee_of(enforcer: TenantEnforcer, raw: Any) -> User:
    """An active user of the tenant who may read tickets; else 422 at /assignee_id."""
    user = await User.get_in_tenant(_uuid(raw, "/assignee_id"))
    if user is None or not user.is_active or not enforcer.allowed(user.roles, RESOURCE, "read"):
        raise refusal(service.BadAssignee(str(raw)), "zh-CN")
    return user


def _answer(request: Request, change: service.Change, status_code: int = 200) -> Response:
    return JSONResponse(
        ticket_json(change.ticket, locale_of(request), _now()),
        status_code=status_code,
        background=deliver_ids_later(request, change.notify),
    )


@tenant_endpoint()
async def ticket_show(request: Request) -> Response:
    """
    summary: One ticket with its messages, internal notes included, oldest first
    tags: [tickets]
    responses:
      200: {description: "The ticket and {replies: [{id, author, body, internal, at}]}"}
      403: {description: Not allowed (needs ticket:* read)}
      404: {description: No such ticket in the caller's scope}
    """
    _, enforcer, user = await _active(request, "read")
    rows = await visible_tickets(enforcer, user)
    ticket = await rows.filter(id=_uuid(request.path_params["ticket_id"])).first()
    if ticket is None:
        raise HttpError(404, "not_found")
    replies = await TicketReply.filter(ticket_id=ticket.id).order_by("at", "id")
    return JSONResponse(
        ticket_json(ticket, locale_of(request), _now())
        | {"replies": [reply_json(r) for r in replies]}
    )


async def _body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    return body


def _version(body: dict[str, Any]) -> int:
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        detail = "version (the ticket version you saw) is required, an integer"
        raise HttpError(400, "bad_request", params={"detail": detail})
    return version


@tenant_endpoint()
async def ticket_reply(request: Request) -> Response:
    """
    summary: Answer a ticket, or add an internal note ({body, internal?})
    description: >-
      The first answer the opener can see meets (or misses) the response SLA and puts an
      open ticket in progress. Internal notes are for staff only.
    tags: [tickets]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [body]
            properties:
              body: {type: string, maxLength: 5000}
              internal: {type: boolean}
    responses:
      200: {description: The ticket}
      403: {description: Not allowed (needs ticket:* reply)}
      404: {description: No such ticket in the caller's scope}
      409: {description: The ticket is closed}
      422: {description: "Bad fields; details list {pointer, message}"}
    """
    _, enforcer, user = await _active(request, "reply")
    body = await _body(request)
    internal = body.get("internal", False)
    if not isinstance(internal, bool):
        raise HttpError(422, "invalid", details=[{"pointer": "/internal", "message": "a boolean"}])
    try:
        change = await service.reply(
            _uuid(request.path_params["ticket_id"]),
            Actor("staff", user.id),
            body.get("body"),
            internal=internal,
            now=_now(),
            visible=await visible_tickets(enforcer, user),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _answer(request, found(change))


@tenant_endpoint()
async def ticket_assign(request: Request) -> Response:
    """
    summary: Give a ticket to someone ({assignee_id, version})
    tags: [tickets]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [assignee_id, version]
            properties:
              assignee_id: {type: string, format: uuid}
              version: {type: integer}
    responses:
      200: {description: The ticket}
      403: {description: Not allowed (needs ticket:* assign)}
      404: {description: No such ticket in the caller's scope}
      409: {description: A stale version (details give the current one), or the ticket is closed}
      422: {description: The assignee is not an active user who may read tickets}
    """
    _, enforcer, user = await _active(request, "assign")
    body = await _body(request)
    version = _version(body)
    assignee = await assignee_of(enforcer, body.get("assignee_id"))
    try:
        change = await service.assign(
            _uuid(request.path_params["ticket_id"]),
            assignee,
            Actor("staff", user.id),
            expected_version=version,
            now=_now(),
            visible=await visible_tickets(enforcer, user),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _answer(request, found(change))


@tenant_endpoint()
async def ticket_action(request: Request) -> Response:
    """
    summary: Move a ticket (start, wait_customer, resolve, reopen, close) ({version})
    tags: [tickets]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version]
            properties: {version: {type: integer}}
    responses:
      200: {description: The ticket}
      403: {description: Not allowed (needs ticket:* update)}
      404: {description: No such ticket in the caller's scope, or no such action}
      409: {description: Not allowed from the current status (naming both), or a stale version}
    """
    action = request.path_params["action"]
    _, enforcer, user = await _active(request, "update")
    if action not in ACTIONS:
        params = {"action": action[:50], "actions": ", ".join(ACTIONS)}
        raise HttpError(404, "ticket_unknown_action", params=params)
    version = _version(await _body(request))
    try:
        change = await service.act(
            _uuid(request.path_params["ticket_id"]),
            action,
            Actor("staff", user.id),
            expected_version=version,
            now=_now(),
            visible=await visible_tickets(enforcer, user),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _answer(request, found(change))


ROUTES = [
    Route("/tickets", tickets_index, methods=["GET"]),
    Route("/projects/{project_id}/tickets", ticket_open, methods=["POST"]),
    Route("/tickets/{ticket_id}", ticket_show, methods=["GET"]),
    Route("/tickets/{ticket_id}/replies", ticket_reply, methods=["POST"]),
    Route("/tickets/{ticket_id}/assign", ticket_assign, methods=["POST"]),
    Route("/tickets/{ticket_id}/actions/{action}", ticket_action, methods=["POST"]),
]
