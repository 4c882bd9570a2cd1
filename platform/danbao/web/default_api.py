"""Default and recovery over HTTP, under ``/t/{slug}/api/projects``.

Thin like ``projects_api``: the caller must see the project (``project:*`` read and the
application's data scope; otherwise 404) and hold the grant of the event the fact goes
with (``project:mark_overdue``, ``project:cure_overdue``, ``project:compensate``,
``project:write_off``; recovery actions and receipts under ``project:start_recovery``,
closing an action under ``project:close_recovery``). Facts that move the project carry
the ``version`` the caller saw; compensation and write-off carry the ``approval_id`` of
the decision. Input faults are 422 with a pointer per fault; facts that contradict the
records are 409 ``project_<code>`` with the pointer of the input at fault.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.authz.enforcer import TenantEnforcer
from danbao.db.models import (
    Project,
    ProjectCompensation,
    ProjectOverdue,
    ProjectRecovery,
    ProjectRecoveryReceipt,
    ProjectWriteOff,
    User,
)
from danbao.forms.identifiers import today_in_china
from danbao.guarantee import default, recovery, write_off
from danbao.guarantee.access import visible_projects
from danbao.guarantee.attributes import AttributesInvalid
from danbao.guarantee.inputs import Reader, reader
from danbao.guarantee.service import MAX_REASON
from danbao.guarantee.totals import ZERO, project_totals, tenant_totals
from danbao.i18n import translate
from danbao.web import projects_api
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import check_allowed, read_json
from danbao.web.projects_api import _active, _uuid, _visible, project_json, transition_refused
from danbao.web.tenant_endpoint import tenant_endpoint


def _refused(exc: Exception, event: str, locale: str) -> HttpError:
    if isinstance(exc, AttributesInvalid):
        return HttpError(422, "invalid", details=[e.as_json() for e in exc.errors])
    if isinstance(exc, default.DefaultRefused):
        details = [{"pointer": exc.pointer}] if exc.pointer else None
        return HttpError(409, f"project_{exc.code}", params=exc.params, details=details)
    return transition_refused(exc, event, locale)


REFUSALS = (AttributesInvalid, *projects_api.REFUSALS)


async def _body(request: Request) -> Reader:
    try:
        return reader(await read_json(request))
    except AttributesInvalid as exc:
        raise _refused(exc, "", locale_of(request)) from exc


def _moving(read: Reader, *, approval: bool = False) -> dict[str, Any]:
    """The parts of a body that moves the project: version, reason, approval_id."""
    version = read.integer("version", high=2**31 - 1)
    reason = read.text("reason", limit=MAX_REASON) or ""
    found: dict[str, Any] = {"expected_version": version, "reason": reason}
    if approval:
        raw = read.body.get("approval_id")
        found["approval_id"] = None
        if raw not in (None, ""):
            try:
                found["approval_id"] = uuid.UUID(str(raw))
            except ValueError:
                read.fault("approval_id", "approval_id must be the id of an approval")
    return found


async def _caller(
    request: Request, grant: str | None = None
) -> tuple[TenantEnforcer, User, Any, uuid.UUID]:
    _, enforcer, user = await _active(request)
    rows = await _visible(request, enforcer, user)
    if grant is not None:
        check_allowed(enforcer, user, grant, "update")
    return enforcer, user, rows, _uuid(request.path_params["project_id"])


def _money(value: Any) -> str:
    return str(value)


def _day(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _name(locale: str, key: str) -> str:
    return translate(locale, key)


async def default_json(project: Project, locale: str) -> dict[str, Any]:
    """The project's default file: notices, payment, recovery actions with their
    receipts, write-off, and the totals."""
    notices = await ProjectOverdue.filter(project_id=project.id).order_by("created_at", "id")
    paid = await ProjectCompensation.filter(project_id=project.id).first()
    actions = await ProjectRecovery.filter(project_id=project.id).order_by("started_on", "id")
    receipts = await ProjectRecoveryReceipt.filter(project_id=project.id).order_by(
        "received_on", "created_at"
    )
    loss = await ProjectWriteOff.filter(project_id=project.id).first()
    by_action: dict[uuid.UUID, list[ProjectRecoveryReceipt]] = {}
    for receipt in receipts:
        by_action.setdefault(receipt.recovery_id, []).append(receipt)
    return {
        "overdue": [
            {
                "id": str(n.id),
                "notice_ref": n.notice_ref,
                "notice_date": _day(n.notice_date),
                "overdue_since": _day(n.overdue_since),
                "days_overdue": n.days_overdue,
                "principal": _money(n.principal),
                "interest": _money(n.interest),
                "obliged": _money(n.obliged),
                "status": n.status,
                "status_name": _name(locale, f"project.overdue_status.{n.status}"),
                "cured_on": _day(n.cured_on),
            }
            for n in notices
        ],
        "compensation": None
        if paid is None
        else {
            "id": str(paid.id),
            "overdue_id": str(paid.overdue_id),
            "approval_id": str(paid.approval_id),
            "amount": _money(paid.amount),
            "paid_on": _day(paid.paid_on),
            "bank_receipt_ref": paid.bank_receipt_ref,
        },
        "recoveries": [_action_json(a, by_action.get(a.id, []), locale) for a in actions],
        "write_off": None
        if loss is None
        else {
            "id": str(loss.id),
            "approval_id": str(loss.approval_id),
            "compensated": _money(loss.compensated),
            "recovered": _money(loss.recovered),
            "loss": _money(loss.loss),
            "written_off_on": _day(loss.written_off_on),
            "basis": loss.basis,
            "basis_name": _name(locale, f"project.write_off_basis.{loss.basis}"),
            "evidence": [
                {**e, "kind_name": _name(locale, f"project.evidence.{e['kind']}")}
                for e in loss.evidence
            ],
        },
        "totals": (await project_totals(project)).as_json(),
    }


def _action_json(
    action: ProjectRecovery, receipts: list[ProjectRecoveryReceipt], locale: str
) -> dict[str, Any]:
    return {
        "id": str(action.id),
        "kind": action.kind,
        "kind_name": _name(locale, f"project.recovery_kind.{action.kind}"),
        "status": action.status,
        "started_on": _day(action.started_on),
        "reference": action.reference,
        "note": action.note,
        "closed_on": _day(action.closed_on),
        "outcome": action.outcome,
        "recovered": _money(sum((r.amount for r in receipts), start=ZERO)),
        "receipts": [
            {
                "id": str(r.id),
                "amount": _money(r.amount),
                "received_on": _day(r.received_on),
                "reference": r.reference,
            }
            for r in receipts
        ],
    }


async def _answer(
    request: Request,
    project: Project,
    enforcer: TenantEnforcer,
    user: User,
    *,
    status: int = 200,
    created: str | None = None,
) -> Response:
    locale = locale_of(request)
    body: dict[str, Any] = {
        "project": project_json(project, locale, enforcer, user),
        "default": await default_json(project, locale),
    }
    if created is not None:
        body["created"] = created
    return JSONResponse(body, status_code=status)


@tenant_endpoint()
async def default_show(request: Request) -> Response:
    """
    summary: A project's default file (overdue notices, compensation, recovery, write-off, totals)
    description: >-
      Totals are computed from the records: compensated, recovered, lost, outstanding
      (代偿余额 = compensated − recovered − lost), obliged_unpaid (逾期未代偿), and whether
      the records reconcile (problems names each disagreement).
    tags: [projects]
    responses:
      200: {description: "{overdue, compensation, recoveries, write_off, totals}"}
      403: {description: Not allowed (needs project:* read)}
      404: {description: No such project in the caller's scope}
    """
    _, _, rows, project_id = await _caller(request)
    project = await rows.filter(id=project_id).first()
    if project is None:
        raise HttpError(404, "not_found")
    return JSONResponse(await default_json(project, locale_of(request)))


@tenant_endpoint()
async def overdue_register(request: Request) -> Response:
    """
    summary: Register the bank's overdue notice and move the project to 逾期 (mark_overdue)
    description: >-
      The notice states what the guarantor is obliged for and has not paid: principal and
      interest (its own part, after the bank's risk share); the principal cannot exceed
      the guarantor's liability (amount × (1 − bank risk share)).
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version, notice_ref, notice_date, days_overdue, principal, interest]
            properties:
              version: {type: integer}
              notice_ref: {type: string, maxLength: 100}
              notice_date: {type: string, format: date}
              days_overdue: {type: integer, minimum: 1}
              principal: {type: string, description: "yuan, e.g. \\"1200000.00\\""}
              interest: {type: string}
              reason: {type: string, maxLength: 1000}
    responses:
      201: {description: "{project, default, created}"}
      403: {description: Not allowed (needs project:mark_overdue update)}
      404: {description: No such project in the caller's scope}
      409: {description: "Not allowed from the state, stale version, or above the liability"}
      422: {description: "Bad input; details list {pointer, message}"}
    """
    enforcer, user, rows, project_id = await _caller(request, "project:mark_overdue")
    read = await _body(request)
    locale = locale_of(request)
    try:
        moving = _moving(read)
        notice = default.read_notice(read)
        done = await default.register_overdue(project_id, notice, user=user, visible=rows, **moving)
    except REFUSALS as exc:
        raise _refused(exc, "mark_overdue", locale) from exc
    if done is None:
        raise HttpError(404, "not_found")
    return await _answer(request, done[0], enforcer, user, status=201, created=str(done[1].id))


@tenant_endpoint()
async def overdue_cure(request: Request) -> Response:
    """
    summary: The borrower paid the bank - close the overdue notice, back to 在保 (cure_overdue)
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version, cured_on]
            properties:
              version: {type: integer}
              cured_on: {type: string, format: date}
              reason: {type: string, maxLength: 1000}
    responses:
      200: {description: "{project, default}"}
      403: {description: Not allowed (needs project:cure_overdue update)}
      404: {description: No such project in the caller's scope}
      409: {description: "Not allowed from the state, or a stale version"}
      422: {description: "Bad input; details list {pointer, message}"}
    """
    enforcer, user, rows, project_id = await _caller(request, "project:cure_overdue")
    read = await _body(request)
    locale = locale_of(request)
    try:
        moving = _moving(read)
        cured_on = read.day("cured_on")
        read.done()
        assert cured_on is not None
        done = await default.cure_overdue(project_id, cured_on, user=user, visible=rows, **moving)
    except REFUSALS as exc:
        raise _refused(exc, "cure_overdue", locale) from exc
    if done is None:
        raise HttpError(404, "not_found")
    return await _answer(request, done[0], enforcer, user)


@tenant_endpoint()
async def compensation_create(request: Request) -> Response:
    """
    summary: Record the compensation (代偿) paid to the bank and move the project to 已代偿
    description: >-
      Carried by an approval of the project's application that ended approved while
      the project was 逾期 (approval_id); at most the obliged amount of the open notice.
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version, approval_id, amount, paid_on, bank_receipt_ref]
            properties:
              version: {type: integer}
              approval_id: {type: string, format: uuid}
              amount: {type: string, description: yuan}
              paid_on: {type: string, format: date}
              bank_receipt_ref: {type: string, maxLength: 100}
              reason: {type: string, maxLength: 1000}
    responses:
      201: {description: "{project, default, created}"}
      403: {description: Not allowed (needs project:compensate update)}
      404: {description: No such project in the caller's scope}
      409:
        description: >-
          Not allowed from the state, stale version, no or no valid approval
          (project_approval_*), or above the obliged amount (project_compensation_exceeds)
      422: {description: "Bad input; details list {pointer, message}"}
    """
    enforcer, user, rows, project_id = await _caller(request, "project:compensate")
    read = await _body(request)
    locale = locale_of(request)
    try:
        moving = _moving(read, approval=True)
        payment = default.read_payment(read)
        done = await default.compensate(project_id, payment, user=user, visible=rows, **moving)
    except REFUSALS as exc:
        raise _refused(exc, "compensate", locale) from exc
    if done is None:
        raise HttpError(404, "not_found")
    return await _answer(request, done[0], enforcer, user, status=201, created=str(done[1].id))


@tenant_endpoint()
async def recovery_create(request: Request) -> Response:
    """
    summary: Start a recovery action (demand, litigation, enforcement, collateral_disposal)
    description: Recorded while the project is 追偿中 (fire start_recovery first).
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [kind, started_on]
            properties:
              kind: {enum: [demand, litigation, enforcement, collateral_disposal]}
              started_on: {type: string, format: date}
              reference: {type: string, maxLength: 100, description: "case or letter number"}
              note: {type: string, maxLength: 1000}
    responses:
      201: {description: "{project, default, created}"}
      403: {description: Not allowed (needs project:start_recovery update)}
      404: {description: No such project in the caller's scope}
      409: {description: "The project is not 追偿中 (project_recovery_state)"}
      422: {description: "Bad input; details list {pointer, message}"}
    """
    enforcer, user, rows, project_id = await _caller(request, "project:start_recovery")
    read = await _body(request)
    try:
        action = recovery.read_action(read)
        done = await recovery.start_action(project_id, action, user=user, visible=rows)
    except REFUSALS as exc:
        raise _refused(exc, "start_recovery", locale_of(request)) from exc
    if done is None:
        raise HttpError(404, "not_found")
    return await _answer(request, done[0], enforcer, user, status=201, created=str(done[1].id))


@tenant_endpoint()
async def receipt_create(request: Request) -> Response:
    """
    summary: Record an amount a recovery action recovered, on a date
    description: >-
      All receipts of the project together never exceed its compensation; receipts
      recorded at once queue on the project's row lock.
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [amount, received_on]
            properties:
              amount: {type: string, description: yuan}
              received_on: {type: string, format: date}
              reference: {type: string, maxLength: 100}
    responses:
      201: {description: "{project, default, created}"}
      403: {description: Not allowed (needs project:start_recovery update)}
      404: {description: No such project or action in the caller's scope}
      409:
        description: >-
          Above what is left to recover (project_recovery_exceeds), the action is closed,
          or the project is not 追偿中
      422: {description: "Bad input; details list {pointer, message}"}
    """
    enforcer, user, rows, project_id = await _caller(request, "project:start_recovery")
    recovery_id = _uuid(request.path_params["recovery_id"])
    read = await _body(request)
    try:
        receipt = recovery.read_receipt(read)
        done = await recovery.record_receipt(
            project_id, recovery_id, receipt, user=user, visible=rows
        )
    except REFUSALS as exc:
        raise _refused(exc, "start_recovery", locale_of(request)) from exc
    if done is None:
        raise HttpError(404, "not_found")
    return await _answer(request, done[0], enforcer, user, status=201, created=str(done[1].id))


@tenant_endpoint()
async def recovery_close(request: Request) -> Response:
    """
    summary: Close a recovery action with its outcome
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [closed_on]
            properties:
              closed_on: {type: string, format: date}
              outcome: {type: string, maxLength: 1000}
    responses:
      200: {description: "{project, default}"}
      403: {description: Not allowed (needs project:close_recovery update)}
      404: {description: No such project or action in the caller's scope}
      409: {description: The action is closed already}
      422: {description: "Bad input; details list {pointer, message}"}
    """
    enforcer, user, rows, project_id = await _caller(request, "project:close_recovery")
    recovery_id = _uuid(request.path_params["recovery_id"])
    read = await _body(request)
    try:
        closed_on = read.day("closed_on")
        outcome = read.text("outcome", limit=1000) or ""
        read.done()
        assert closed_on is not None
        done = await recovery.close_action(
            project_id, recovery_id, closed_on, outcome, user=user, visible=rows
        )
    except REFUSALS as exc:
        raise _refused(exc, "close_recovery", locale_of(request)) from exc
    if done is None:
        raise HttpError(404, "not_found")
    return await _answer(request, done[0], enforcer, user)


@tenant_endpoint()
async def write_off_create(request: Request) -> Response:
    """
    summary: Write off the loss (损失核销) with the regulator's evidence, moving to 损失核销
    description: >-
      The loss is compensated − recovered, computed (a given loss must equal it). The
      evidence must make a ground of the regulator's definition: a court judgment or
      ruling; an arbitral award with an enforcement order; or other sufficient evidence,
      described. Every recovery action must be closed. Carried by an approval
      (approval_id) that ended approved while the project was in its current state.
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version, approval_id, written_off_on, evidence]
            properties:
              version: {type: integer}
              approval_id: {type: string, format: uuid}
              written_off_on: {type: string, format: date}
              loss: {type: string, description: "the loss the caller saw (checked)"}
              reason: {type: string, maxLength: 1000}
              evidence:
                type: array
                minItems: 1
                items:
                  type: object
                  required: [kind, reference, issued_on]
                  properties:
                    kind: {enum: [court_judgment, arbitral_award, enforcement_order, other]}
                    reference: {type: string, maxLength: 100}
                    issued_on: {type: string, format: date}
                    issuer: {type: string, maxLength: 100}
                    description: {type: string, maxLength: 1000}
                    attachment_id: {type: string, format: uuid}
    responses:
      201: {description: "{project, default, created}"}
      403: {description: Not allowed (needs project:write_off update)}
      404: {description: No such project in the caller's scope}
      409:
        description: >-
          Not allowed from the state, stale version, no or no valid approval, open
          recovery actions, nothing to write off, or the loss changed
      422: {description: "Bad input or insufficient evidence; details list {pointer, message}"}
    """
    enforcer, user, rows, project_id = await _caller(request, "project:write_off")
    read = await _body(request)
    locale = locale_of(request)
    try:
        moving = _moving(read, approval=True)
        given = write_off.read_write_off(read)
        done = await write_off.write_off(project_id, given, user=user, visible=rows, **moving)
    except REFUSALS as exc:
        raise _refused(exc, "write_off", locale) from exc
    if done is None:
        raise HttpError(404, "not_found")
    return await _answer(request, done[0], enforcer, user, status=201, created=str(done[1].id))


@tenant_endpoint()
async def totals_show(request: Request) -> Response:
    """
    summary: Default totals over the projects the caller sees (?year= for 本年累计)
    description: >-
      Cumulative compensated, recovered, lost, outstanding and obliged_unpaid, the flows
      dated in the year (default this year, China time), counts of projects, and the
      projects whose records do not reconcile.
    tags: [projects]
    responses:
      200: {description: "{totals, year, this_year, projects, unreconciled}"}
      400: {description: Bad year}
      403: {description: Not allowed (needs project:* read)}
    """
    _, enforcer, user = await _active(request)
    check_allowed(enforcer, user, "project:*", "read")
    raw = request.query_params.get("year") or str(today_in_china().year)
    if not (raw.isdigit() and 1990 <= int(raw) <= 2200):
        raise HttpError(400, "bad_request", params={"detail": "year: a year like 2026"})
    rows = await visible_projects(enforcer, user)
    if rows is None:
        rows = Project.filter(id__in=[])
    return JSONResponse((await tenant_totals(rows, int(raw))).as_json())


ROUTES = [
    # Before projects_api: its /projects/{project_id} would take /projects/totals.
    Route("/projects/totals", totals_show, methods=["GET"]),
    Route("/projects/{project_id}/default", default_show, methods=["GET"]),
    Route("/projects/{project_id}/overdue", overdue_register, methods=["POST"]),
    Route("/projects/{project_id}/overdue/cure", overdue_cure, methods=["POST"]),
    Route("/projects/{project_id}/compensation", compensation_create, methods=["POST"]),
    Route("/projects/{project_id}/recoveries", recovery_create, methods=["POST"]),
    Route(
        "/projects/{project_id}/recoveries/{recovery_id}/receipts",
        receipt_create,
        methods=["POST"],
    ),
    Route(
        "/projects/{project_id}/recoveries/{recovery_id}/close", recovery_close, methods=["POST"]
    ),
    Route("/projects/{project_id}/write-off", write_off_create, methods=["POST"]),
]
