"""Service tickets in the customer portal: an applicant opens one on their own project,
follows the conversation (never staff's internal notes), answers, and re-opens or closes
it. The same service as the staff side (``danbao.tickets``), acting as the applicant;
every read is scoped to the tenant and to tickets this applicant opened on a project of
theirs — anything else is the ordinary 404.
"""

from __future__ import annotations

import datetime as dt
import uuid

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.queryset import QuerySet

from danbao.db.models import Applicant, ServiceTicket, TicketReply
from danbao.tickets import service
from danbao.tickets.service import Actor
from danbao.tickets.states import ACTIONS, OPENER_ACTIONS, Status, status_name
from danbao.web.errors import HttpError, locale_of
from danbao.web.notify import deliver_ids_later
from danbao.web.portal_endpoint import portal_base, portal_endpoint, visitor_of
from danbao.web.portal_pages import desk_of, owned_project, render_portal
from danbao.web.ticket_refusals import REFUSED, found, refusal


def mine(applicant: Applicant) -> QuerySet[ServiceTicket]:
    """The tickets this applicant opened (their projects' only: they open them there)."""
    return ServiceTicket.filter(opened_by_kind="applicant", opened_by=applicant.id)


def _actor(request: Request) -> tuple[Applicant, Actor]:
    applicant = visitor_of(request).signed_in
    return applicant, Actor("applicant", applicant.id)


def _ticket_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["ticket_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _back(request: Request, change: service.Change | None, done: str) -> Response:
    change = found(change)
    return RedirectResponse(
        f"{portal_base(request)}/tickets/{change.ticket.id}?done={done}",
        303,
        background=deliver_ids_later(request, change.notify),
    )


@portal_endpoint()
async def open_ticket(request: Request) -> Response:
    desk = await desk_of(request)
    project, _ = await owned_project(request)
    _, actor = _actor(request)
    form = await request.form()
    body = {k: str(form.get(k) or "") for k in ("subject", "category", "body")}
    try:
        change = await service.open_ticket(desk.bundle.tenant, project, actor, body, now=_now())
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _back(request, change, "opened")


@portal_endpoint()
async def ticket_page(request: Request) -> Response:
    applicant, _ = _actor(request)
    ticket = await mine(applicant).filter(id=_ticket_id(request)).first()
    if ticket is None:
        raise HttpError(404, "not_found")
    replies = await TicketReply.filter(ticket_id=ticket.id, internal=False).order_by("at", "id")
    status = Status(ticket.status)
    return render_portal(
        request,
        "portal/ticket.html",
        {
            "ticket": ticket,
            "status_name": status_name(ticket.status, locale_of(request)),
            "replies": replies,
            "applicant_id": applicant.id,
            "can_reply": status is not Status.CLOSED,
            "actions": [a for a in sorted(OPENER_ACTIONS) if status in ACTIONS[a][0]],
            "project_url": f"{portal_base(request)}/projects/{ticket.project_id}",
            "notice": request.query_params.get("done"),
        },
    )


@portal_endpoint()
async def reply(request: Request) -> Response:
    applicant, actor = _actor(request)
    form = await request.form()
    try:
        change = await service.reply(
            _ticket_id(request),
            actor,
            str(form.get("body") or ""),
            internal=False,
            now=_now(),
            visible=mine(applicant),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _back(request, change, "replied")


@portal_endpoint()
async def act(request: Request) -> Response:
    applicant, actor = _actor(request)
    form = await request.form()
    action = str(form.get("action") or "")
    if action not in OPENER_ACTIONS:
        raise HttpError(404, "not_found")
    try:
        version = int(str(form.get("version") or ""))
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": "version"}) from exc
    try:
        change = await service.act(
            _ticket_id(request),
            action,
            actor,
            expected_version=version,
            now=_now(),
            visible=mine(applicant),
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return _back(request, change, action)


ROUTES = [
    Route("/projects/{project_id}/tickets", open_ticket, methods=["POST"]),
    Route("/tickets/{ticket_id}", ticket_page, methods=["GET"]),
    Route("/tickets/{ticket_id}/reply", reply, methods=["POST"]),
    Route("/tickets/{ticket_id}/act", act, methods=["POST"]),
]
