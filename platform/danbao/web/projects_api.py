"""Guarantee projects over HTTP, under ``/t/{slug}/api/projects``.

Thin: authorise (``project:*`` read / create; ``project:<event>`` update to fire an event),
find the project among those the caller sees (``guarantee.access``: the application's data
scope), call the service, answer with names in the caller's language. A project the caller
cannot see, or of another tenant, is a 404 like one that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.authz.enforcer import TenantEnforcer
from danbao.db.models import Project, Record, User
from danbao.definitions import Bundle
from danbao.guarantee import service
from danbao.guarantee.access import visible_projects
from danbao.guarantee.approval_check import ApprovalNotValid
from danbao.guarantee.attributes import AttributesInvalid
from danbao.guarantee.effects import EventHasItsRoute, ReleaseRefused
from danbao.guarantee.states import State, state_name
from danbao.guarantee.totals import project_totals
from danbao.guarantee.transitions import (
    EVENTS,
    NotAllowed,
    Transition,
    UnknownEvent,
    allowed_events,
    event_name,
)
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import check_allowed, read_json
from danbao.web.records_api import scoped_record
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


async def _active(request: Request) -> tuple[Bundle, TenantEnforcer, User]:
    user: User = caller_of(request).user
    active = await services_of(request).enforcer()
    if active is None:
        check_allowed(None, user, "project:*", "read")  # refuses, audited
        raise HttpError(404, "not_found")  # pragma: no cover - check_allowed raised
    return active[1], active[2], user


def _uuid(raw: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc


def _state(state: str, locale: str) -> dict[str, str]:
    return {"code": state, "name": state_name(state, locale)}


def _transition_json(transition: Transition, locale: str) -> dict[str, Any]:
    return {
        "event": transition.event,
        "name": event_name(transition.event, locale),
        "from": _state(transition.from_state.value, locale),
        "to": _state(transition.to_state.value, locale),
        "needs_approval": transition.needs_approval,
        "reverses": transition.reverses,
    }


def project_json(
    project: Project, locale: str, enforcer: TenantEnforcer, user: User
) -> dict[str, Any]:
    events = [
        {
            "event": e.code,
            "name": event_name(e.code, locale),
            "to": _state(e.target.value, locale),
            "needs_approval": e.needs_approval,
            "reverses": e.reverses,
            "permitted": enforcer.allowed(user.roles, f"project:{e.code}", "update"),
        }
        for e in allowed_events(project.state)
    ]
    return {
        "id": str(project.id),
        "number": project.number,
        "record_id": str(project.record_id),
        "form_id": project.form_id,
        "state": _state(project.state, locale),
        "version": project.version,
        "attributes": {
            "business_type": project.business_type,
            "client_type": project.client_type,
            "amount": str(project.amount),
            "term_months": project.term_months,
            "fee_rate": None if project.fee_rate is None else str(project.fee_rate),
            "lending_bank": project.lending_bank,
            "bank_risk_share": str(project.bank_risk_share),
            "related_group": project.related_group,
            "industry": project.industry,
            "region": project.region,
        },
        "department": project.department,
        "created_by": str(project.created_by),
        "created_at": project.created_at.isoformat(),
        "updated_at": project.updated_at.isoformat(),
        "events": events,
    }


@tenant_endpoint()
async def projects_index(request: Request) -> Response:
    """
    summary: The projects the caller sees (?state=&page=&per_page=), newest first
    description: >-
      A project is seen by whoever sees its application record (the data scope of
      the record's form).
    tags: [projects]
    responses:
      200: {description: "{items, total, page, per_page}"}
      400: {description: Bad parameters}
      403: {description: Not allowed (needs project:* read)}
    """
    _, enforcer, user = await _active(request)
    check_allowed(enforcer, user, "project:*", "read")
    params = request.query_params
    try:
        page = int(params.get("page") or 1)
        per_page = int(params.get("per_page") or DEFAULT_PER_PAGE)
    except ValueError as exc:
        detail = "page and per_page: numbers"
        raise HttpError(400, "bad_request", params={"detail": detail}) from exc
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        detail = f"page >= 1, per_page 1-{MAX_PER_PAGE}"
        raise HttpError(400, "bad_request", params={"detail": detail})
    state = params.get("state") or None
    if state is not None and state not in State.__members__:
        detail = "state: one of " + ", ".join(s.value for s in State)
        raise HttpError(400, "bad_request", params={"detail": detail})
    rows = await visible_projects(enforcer, user)
    items: list[Project] = []
    total = 0
    if rows is not None:
        if state is not None:
            rows = rows.filter(state=state)
        total = await rows.count()
        items = list(
            await rows.order_by("-created_at", "-id").offset((page - 1) * per_page).limit(per_page)
        )
    locale = locale_of(request)
    return JSONResponse(
        {
            "items": [project_json(p, locale, enforcer, user) for p in items],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


@tenant_endpoint()
async def projects_create(request: Request) -> Response:
    """
    summary: Make a project of a submitted application record ({record_id})
    description: >-
      The attributes are read from the record through the tenant's project mapping
      (tenant.json /project); the project starts in DRAFT.
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [record_id]
            properties: {record_id: {type: string, format: uuid}}
    responses:
      201: {description: The project}
      403: {description: Not allowed (needs project:* create)}
      404: {description: No such record in the caller's scope}
      409: {description: "Not submitted, its form makes no project, or it has one already"}
      422: {description: "The record's data cannot make a project; details list {pointer, message}"}
    """
    bundle, enforcer, user = await _active(request)
    check_allowed(enforcer, user, "project:*", "create")
    body = await read_json(request)
    if not isinstance(body, dict) or "record_id" not in body:
        raise HttpError(400, "bad_request", params={"detail": "expected {record_id: <uuid>}"})
    record_id = _uuid(body["record_id"])
    found = await Record.get_in_tenant(record_id)
    if found is None:
        raise HttpError(404, "not_found")
    keys = services_of(request).keys
    record = await scoped_record(enforcer, user, found.form_id, record_id, keys=keys)
    try:
        form = FormDefinition.from_bundle(bundle, record.form_id)
        project = await service.create_from_record(
            bundle.tenant, form, record, user=user, keys=keys
        )
    except (FormNotFound, service.NoProjectMapping) as exc:
        raise HttpError(409, "project_no_mapping", params={"form": record.form_id}) from exc
    except service.NotSubmitted as exc:
        raise HttpError(409, "project_not_submitted") from exc
    except service.AlreadyExists as exc:
        details = [{"project_id": str(exc.project_id)}] if exc.project_id else None
        raise HttpError(409, "project_exists", details=details) from exc
    except AttributesInvalid as exc:
        raise HttpError(422, "invalid", details=[e.as_json() for e in exc.errors]) from exc
    return JSONResponse(project_json(project, locale_of(request), enforcer, user), status_code=201)


async def _visible(request: Request, enforcer: TenantEnforcer, user: User) -> Any:
    check_allowed(enforcer, user, "project:*", "read")
    rows = await visible_projects(enforcer, user)
    if rows is None:
        raise HttpError(404, "not_found")
    return rows


async def project_from_path(
    request: Request, *, for_update: bool = False
) -> tuple[Bundle, TenantEnforcer, User, Project]:
    """The project the path names among those the caller sees (else 404), optionally
    locked: for the routes of its parts (counter-guarantees, loan, tasks)."""
    bundle, enforcer, user = await _active(request)
    rows = (await _visible(request, enforcer, user)).filter(
        id=_uuid(request.path_params["project_id"])
    )
    project = await (rows.select_for_update() if for_update else rows).first()
    if project is None:
        raise HttpError(404, "not_found")
    return bundle, enforcer, user, project


@tenant_endpoint()
async def project_show(request: Request) -> Response:
    """
    summary: One project with its current state and the events that can happen from it
    description: >-
      Each event carries its names, target state, whether it needs approval, and
      whether the caller may fire it; totals are the default figures (compensated,
      recovered, lost, outstanding, obliged_unpaid) and whether they reconcile.
    tags: [projects]
    responses:
      200: {description: The project}
      403: {description: Not allowed (needs project:* read)}
      404: {description: No such project in the caller's scope}
    """
    _, enforcer, user, project = await project_in_scope(request)
    body = project_json(project, locale_of(request), enforcer, user)
    body["totals"] = (await project_totals(project)).as_json()  # default: guarantee.totals
    return JSONResponse(body)


async def project_in_scope(request: Request) -> tuple[Bundle, TenantEnforcer, User, Project]:
    """The project of the path, if the caller may read projects and sees this one; else
    403 (no right) or 404 (not in scope, another tenant's, or none)."""
    bundle, enforcer, user = await _active(request)
    rows = await _visible(request, enforcer, user)
    project = await rows.filter(id=_uuid(request.path_params["project_id"])).first()
    if project is None:
        raise HttpError(404, "not_found")
    return bundle, enforcer, user, project


async def _event_body(request: Request) -> dict[str, Any]:
    body = await read_json(request) if request.headers.get("content-length") != "0" else {}
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise HttpError(400, "bad_request", params={"detail": "version must be an integer"})
    dry_run = body.get("dry_run", request.query_params.get("dry_run") in ("1", "true"))
    if not isinstance(dry_run, bool):
        raise HttpError(400, "bad_request", params={"detail": "dry_run must be a boolean"})
    if version is None and not dry_run:
        detail = "version (the project version you saw) is required"
        raise HttpError(400, "bad_request", params={"detail": detail})
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > service.MAX_REASON:
        detail = f"reason: text of at most {service.MAX_REASON} characters"
        raise HttpError(400, "bad_request", params={"detail": detail})
    approval = body.get("approval_id")
    if approval is not None:
        try:
            approval = uuid.UUID(str(approval))
        except ValueError as exc:
            detail = "approval_id must be a UUID"
            raise HttpError(400, "bad_request", params={"detail": detail}) from exc
    return {"version": version, "dry_run": dry_run, "reason": reason, "approval_id": approval}


REFUSALS = (NotAllowed, service.ProjectRefused, ApprovalNotValid, EventHasItsRoute, ReleaseRefused)
"""What applying an event may raise; ``transition_refused`` answers each."""


def transition_refused(exc: Exception, code: str, locale: str) -> HttpError:
    """The answer to a refused transition (shared with the routes that fire an event
    together with its record: documents, the loan)."""
    if isinstance(exc, NotAllowed):
        allowed = ", ".join(s.value for s in exc.allowed_from)
        params: dict[str, Any] = {"event": code, "state": exc.state.value, "allowed": allowed}
        details: list[dict[str, Any]] = [
            {
                "event": code,
                "state": _state(exc.state.value, locale),
                "allowed_from": [_state(s.value, locale) for s in exc.allowed_from],
            }
        ]
        return HttpError(409, "project_not_allowed", params=params, details=details)
    if isinstance(exc, service.StaleVersion):
        current = exc.project
        params = {"state": current.state, "version": current.version}
        details = [{"state": _state(current.state, locale), "version": current.version}]
        return HttpError(409, "project_stale", params=params, details=details)
    if isinstance(exc, service.ApprovalRequired):
        return HttpError(409, "project_approval_required", params={"event": code})
    if isinstance(exc, ApprovalNotValid):
        refusal, params = f"project_approval_{exc.why}", {"event": code, **exc.params}
        return HttpError(409, refusal, params=params, details=[{"pointer": "/approval_id"}])
    if isinstance(exc, EventHasItsRoute):
        params = {"event": code, "route": exc.route}
        return HttpError(409, "project_event_has_its_route", params=params)
    if isinstance(exc, ReleaseRefused):
        params = {"outstanding": str(exc.outstanding)}
        return HttpError(409, "project_release_outstanding", params=params)
    return HttpError(409, "conflict", params={"detail": str(exc)})


@tenant_endpoint()
async def project_event(request: Request) -> Response:
    """
    summary: Apply an event to a project, or preview it ({version, reason?, approval_id?, dry_run?})
    description: >-
      The project row is locked, the event planned from its current state, the version
      checked; one audit event project.transition per change. dry_run (body or
      ?dry_run=1) answers what would change and changes nothing. Events marked
      needs_approval are refused without approval_id.
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              version:
                type: integer
                description: the project version the caller saw (required unless dry_run)
              reason: {type: string, maxLength: 1000}
              approval_id: {type: string, format: uuid}
              dry_run: {type: boolean}
    responses:
      200: {description: "{applied, dry_run, transition, project}"}
      400: {description: Bad body}
      403: {description: Not allowed (needs project:<event> update)}
      404: {description: No such project in the caller's scope, or no such event}
      409:
        description: >-
          Not allowed from the current state, a stale version (details: the current
          state and version), or an approval is required
    """
    _, enforcer, user = await _active(request)
    rows = await _visible(request, enforcer, user)
    project_id = _uuid(request.path_params["project_id"])
    code = request.path_params["event"]
    if code not in EVENTS:
        params = {"event": code[:50], "events": ", ".join(EVENTS)}
        raise HttpError(404, "project_unknown_event", params=params)
    check_allowed(enforcer, user, f"project:{code}", "update")
    body = await _event_body(request)
    locale = locale_of(request)
    try:
        outcome = await service.apply_event(
            project_id,
            code,
            expected_version=body["version"],
            user=user,
            reason=body["reason"],
            approval_id=body["approval_id"],
            dry_run=body["dry_run"],
            visible=rows,
        )
    except UnknownEvent as exc:  # pragma: no cover - checked above
        raise HttpError(404, "not_found") from exc
    except REFUSALS as exc:
        raise transition_refused(exc, code, locale) from exc
    if outcome is None:
        raise HttpError(404, "not_found")
    return JSONResponse(
        {
            "applied": outcome.applied,
            "dry_run": body["dry_run"],
            "transition": _transition_json(outcome.transition, locale),
            "project": project_json(outcome.project, locale, enforcer, user),
        }
    )


ROUTES = [
    Route("/projects", projects_index, methods=["GET"]),
    Route("/projects", projects_create, methods=["POST"]),
    Route("/projects/{project_id}", project_show, methods=["GET"]),
    Route("/projects/{project_id}/events/{event}", project_event, methods=["POST"]),
]
