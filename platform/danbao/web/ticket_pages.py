"""Staff pages of service tickets: the list (mine, all I see, overdue) and one ticket with
its conversation, the reply form (internal notes too), the status actions its status
allows, and assignment. Authorised like ``tickets_api``: the same rights on ``ticket:*``,
the same visibility (``visible_tickets``); every change names the version the page showed.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.db.models import TicketReply, User
from danbao.tickets import service
from danbao.tickets.service import Actor
from danbao.tickets.states import ACTIONS, LIVE, Status
from danbao.web.admin_pages import _csrf
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import require_active
from danbao.web.notify import deliver_ids_later
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, tenant_endpoint
from danbao.web.ticket_refusals import REFUSED, found, refusal
from danbao.web.tickets_api import (
    RESOURCE,
    assignee_of,
    overdue_filter,
    ticket_json,
    visible_tickets,
)

PER_PAGE = 20
TABS = ("mine", "unassigned", "all", "overdue")


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@tenant_endpoint()
async def tickets_page(request: Request) -> Response:
    _, enforcer, user = await require_active(request, RESOURCE, "read")
    tab = request.query_params.get("tab") or "mine"
    tab = tab if tab in TABS else "mine"
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        page = 1
    seen = await visible_tickets(enforcer, user)
    now = _now()
    queries = {
        "mine": seen.filter(assignee_id=user.id, status__in=[s.value for s in LIVE]),
        # Applicants' tickets on projects without an account manager wait here to be taken.
        "unassigned": seen.filter(assignee_id__isnull=True, status__in=[s.value for s in LIVE]),
        "all": seen,
        "overdue": overdue_filter(seen, now),
    }
    counts = [(name, await queries[name].count()) for name in TABS]
    total = dict(counts)[tab]
    rows = (
        await queries[tab]
        .order_by("-created_at", "-id")
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    )
    locale = locale_of(request)
    return render(
        request,
        "tickets/list.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "tabs": counts,
            "tab": tab,
            "items": [ticket_json(t, locale, now) for t in rows],
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / PER_PAGE)),
        },
    )


def _ticket_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["ticket_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc


@tenant_endpoint()
async def ticket_page(request: Request) -> Response:
    _, enforcer, user = await require_active(request, RESOURCE, "read")
    ticket = await (await visible_tickets(enforcer, user)).filter(id=_ticket_id(request)).first()
    if ticket is None:
        raise HttpError(404, "not_found")
    replies = await TicketReply.filter(ticket_id=ticket.id).order_by("at", "id")
    staff = await User.filter(is_active=True).order_by("name")
    people = {str(u.id): u.name for u in staff}
    roles = user.roles
    can_assign = enforcer.allowed(roles, "ticket:*", "assign")
    return render(
        request,
        "tickets/ticket.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "ticket": ticket_json(ticket, locale_of(request), _now()),
            "replies": replies,
            "people": people,
            "can_reply": enforcer.allowed(roles, "ticket:*", "reply")
            and ticket.status != Status.CLOSED,
            "actions": [
                a
                for a, (sources, _) in ACTIONS.items()
                if Status(ticket.status) in sources
                and enforcer.allowed(roles, "ticket:*", "update")
            ],
            "assignees": [
                (str(u.id), u.name)
                for u in staff
                if can_assign and enforcer.allowed(u.roles, "ticket:*", "read")
            ],
            "done": request.query_params.get("done"),
        },
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def _version(form: dict[str, str]) -> int:
    try:
        return int(form.get("version", ""))
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": "version"}) from exc


def _back(request: Request, change: service.Change | None, done: str) -> Response:
    change = found(change)
    return RedirectResponse(
        f"{_base(request)}/tickets/{change.ticket.id}?done={done}",
        303,
        background=deliver_ids_later(request, change.notify),
    )


@tenant_endpoint()
async def reply_page(request: Request) -> Response:
    _, enforcer, user = await require_active(request, RESOURCE, "reply")
    form = await _form(request)
    try:
        change = await service.reply(
            _ticket_id(request),
            Actor("staff", user.id),
            form.get("body", ""),
            internal=form.get("internal") == "on",
            now=_now(),
            visible=await visible_tickets(enforcer, user),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _back(request, change, "replied")


@tenant_endpoint()
async def action_page(request: Request) -> Response:
    _, enforcer, user = await require_active(request, RESOURCE, "update")
    form = await _form(request)
    action = form.get("action", "")
    if action not in ACTIONS:
        raise HttpError(404, "not_found")
    try:
        change = await service.act(
            _ticket_id(request),
            action,
            Actor("staff", user.id),
            expected_version=_version(form),
            now=_now(),
            visible=await visible_tickets(enforcer, user),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _back(request, change, action)


@tenant_endpoint()
async def assign_page(request: Request) -> Response:
    _, enforcer, user = await require_active(request, RESOURCE, "assign")
    form = await _form(request)
    assignee = await assignee_of(enforcer, form.get("assignee_id"))
    try:
        change = await service.assign(
            _ticket_id(request),
            assignee,
            Actor("staff", user.id),
            expected_version=_version(form),
            now=_now(),
            visible=await visible_tickets(enforcer, user),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _back(request, change, "assigned")


ROUTES = [
    Route("/tickets", tickets_page, methods=["GET"]),
    Route("/tickets/{ticket_id}", ticket_page, methods=["GET"]),
    Route("/tickets/{ticket_id}/reply", reply_page, methods=["POST"]),
    Route("/tickets/{ticket_id}/act", action_page, methods=["POST"]),
    Route("/tickets/{ticket_id}/assign", assign_page, methods=["POST"]),
]
