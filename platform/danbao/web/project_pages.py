"""Staff pages of guarantee projects: the list (by state) and the project page — its
facts, the events the caller may fire, its tickets, and one timeline of everything.

Authorised exactly like the API: ``project_in_scope`` (read ``project:*`` and the
application's data scope); firing an event goes through ``guarantee.service`` with the
version the page showed, like ``POST /api/projects/{id}/events/{event}``.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.db.models import Project, ServiceTicket, WorkflowInstance
from danbao.guarantee import service
from danbao.guarantee.access import visible_projects
from danbao.guarantee.approval_check import ApprovalNotValid
from danbao.guarantee.effects import EventHasItsRoute
from danbao.guarantee.states import State, state_name
from danbao.guarantee.timeline import timeline
from danbao.guarantee.transitions import EVENTS, NotAllowed
from danbao.tickets import sla
from danbao.tickets.service import Actor, open_ticket
from danbao.web.admin_pages import _csrf
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import check_allowed, require_active
from danbao.web.notify import deliver_ids_later
from danbao.web.projects_api import project_in_scope, project_json, transition_refused
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, tenant_endpoint
from danbao.web.ticket_refusals import REFUSED, refusal
from danbao.web.timeline_api import paging

PER_PAGE = 20


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


@tenant_endpoint()
async def projects_page(request: Request) -> Response:
    _, enforcer, user = await require_active(request, "project:*", "read")
    state = request.query_params.get("state") or ""
    if state and state not in State.__members__:
        state = ""
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        page = 1
    rows = await visible_projects(enforcer, user)
    items: list[Project] = []
    total = 0
    if rows is not None:
        if state:
            rows = rows.filter(state=state)
        total = await rows.count()
        items = list(
            await rows.order_by("-created_at", "-id").offset((page - 1) * PER_PAGE).limit(PER_PAGE)
        )
    locale = locale_of(request)
    return render(
        request,
        "projects/list.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "items": [project_json(p, locale, enforcer, user) for p in items],
            "states": [(s.value, state_name(s, locale)) for s in State],
            "state": state,
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / PER_PAGE)),
        },
    )


@tenant_endpoint()
async def project_page(request: Request) -> Response:
    _, enforcer, user, project = await project_in_scope(request)
    locale = locale_of(request)
    before, limit = paging(request)
    page = await timeline(project, locale, before=before, limit=limit)
    may_tickets = enforcer.allowed(user.roles, "ticket:*", "read")
    tickets = (
        await ServiceTicket.filter(project_id=project.id).order_by("-created_at").limit(50)
        if may_tickets
        else []
    )
    approvals = await WorkflowInstance.filter(
        record_id=project.record_id, status="approved", finished_at__isnull=False
    ).order_by("-finished_at")
    return render(
        request,
        "projects/project.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "project": project_json(project, locale, enforcer, user),
            "record_url": f"{_base(request)}/forms/{project.form_id}/records/{project.record_id}",
            "timeline": page.entries,
            "next_before": page.next_before,
            "tickets": tickets,
            "may_tickets": may_tickets,
            "may_open_ticket": enforcer.allowed(user.roles, "ticket:*", "create"),
            "categories": sla.CATEGORIES,
            "priorities": sla.PRIORITIES,
            "approvals": approvals,
            "done": request.query_params.get("done"),
        },
    )


@tenant_endpoint()
async def project_event_page(request: Request) -> Response:
    """The event form of the project page: fire it with the version the page showed."""
    _, enforcer, user, project = await project_in_scope(request)
    form = await request.form()
    code = str(form.get("event") or "")
    if code not in EVENTS:
        raise HttpError(404, "not_found")
    check_allowed(enforcer, user, f"project:{code}", "update")
    try:
        version = int(str(form.get("version") or ""))
        raw_approval = str(form.get("approval_id") or "")
        approval = uuid.UUID(raw_approval) if raw_approval else None
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": "version, approval_id"}) from exc
    reason = str(form.get("reason") or "")[: service.MAX_REASON]
    try:
        await service.apply_event(
            project.id,
            code,
            expected_version=version,
            user=user,
            reason=reason,
            approval_id=approval,
        )
    except (NotAllowed, service.ProjectRefused, EventHasItsRoute, ApprovalNotValid) as exc:
        raise transition_refused(exc, code, locale_of(request)) from exc
    return RedirectResponse(f"{_base(request)}/projects/{project.id}?done=event", 303)


@tenant_endpoint()
async def project_ticket_page(request: Request) -> Response:
    """The project page's form to open a ticket on it."""
    bundle, enforcer, user, project = await project_in_scope(request)
    check_allowed(enforcer, user, "ticket:*", "create")
    form = await request.form()
    body = {k: str(form.get(k) or "") for k in ("subject", "category", "priority", "body")}
    try:
        change = await open_ticket(
            bundle.tenant, project, Actor("staff", user.id), body, now=_now()
        )
    except REFUSED as exc:
        raise refusal(exc, locale_of(request)) from exc
    return RedirectResponse(
        f"{_base(request)}/tickets/{change.ticket.id}?done=opened",
        303,
        background=deliver_ids_later(request, change.notify),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


ROUTES = [
    Route("/projects", projects_page, methods=["GET"]),
    Route("/projects/{project_id}", project_page, methods=["GET"]),
    Route("/projects/{project_id}/events", project_event_page, methods=["POST"]),
    Route("/projects/{project_id}/tickets", project_ticket_page, methods=["POST"]),
]
