"""A guarantee in force over HTTP, under ``/t/{slug}/api/projects/{id}``: the bank's
disbursement (放款) with its repayment schedule, repayments, the release (解保), the
post-loan tasks (保后任务) and the early-warning check (预警).

Each write names its permission like the project's events: recording the disbursement
``project:confirm_disbursement``, a repayment ``project:loan``, the release
``project:release``, completing a task ``project:aftercare``, the warning check
``project:raise_warning`` (all ``update``). Reading needs ``project:*`` read and the
project in the caller's scope (else 404).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.db.models import Record
from danbao.forms.identifiers import today_in_china
from danbao.guarantee import aftercare, loan, warnings
from danbao.guarantee.values import Invalid
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.web.counter_api import invalid
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import check_allowed, read_json
from danbao.web.notify import deliver_ids_later
from danbao.web.projects_api import REFUSALS, project_from_path, project_json, transition_refused
from danbao.web.records_api import scoped_record
from danbao.web.tenant_endpoint import services_of, tenant_endpoint


async def _body(request: Request) -> dict[str, Any]:
    body = await read_json(request) if request.headers.get("content-length") != "0" else {}
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    return body


def refused(exc: loan.LoanRefused) -> HttpError:
    status = 422 if isinstance(exc, loan.ExceedsOutstanding) else 409
    details = [{"pointer": "/principal", "message": str(exc)}] if status == 422 else None
    return HttpError(status, exc.code, params=exc.params, details=details)


@tenant_endpoint()
async def loan_show(request: Request) -> Response:
    """
    summary: The project's loan — disbursement, schedule, repayments, balances, overdue days
    description: >-
      loan is null before the bank disburses. outstanding is the principal still owed
      (amount = repaid_principal + outstanding); guarantor_liability = outstanding × (1 −
      bank_risk_share).
    tags: [projects]
    responses:
      200: {description: "{loan}"}
      403: {description: Not allowed (needs project:* read)}
      404: {description: No such project in the caller's scope}
    """
    _, _, _, project = await project_from_path(request)
    return JSONResponse({"loan": await loan.statement(project, today_in_china())})


@tenant_endpoint()
async def loan_disburse(request: Request) -> Response:
    """
    summary: Record the bank's disbursement (放款) and its schedule; fires confirm_disbursement
    description: >-
      已出函 → 在保 in the same transaction as the loan, its monthly schedule and the
      post-loan tasks of the tenant's rules (tenant.json aftercare.tasks).
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version, disbursed_on, amount, bank_reference, method]
            properties:
              version: {type: integer, description: the project version the caller saw}
              disbursed_on: {type: string, format: date}
              amount: {type: string, description: "yuan; at most the guaranteed amount"}
              bank_reference: {type: string, maxLength: 100}
              method: {type: string, enum: [equal_principal, bullet, equal_installment]}
              term_months: {type: integer, description: "1-360; default the project's term"}
              annual_rate: {type: string, description: "0..1; needed for equal_installment"}
    responses:
      201: {description: "{loan, project}"}
      403: {description: Not allowed (needs project:confirm_disbursement update)}
      404: {description: No such project in the caller's scope}
      409: {description: "Not allowed from the project's state, or a stale version"}
      422: {description: "details: [{pointer, message}]"}
    """
    bundle, enforcer, user, project = await project_from_path(request)
    check_allowed(enforcer, user, "project:confirm_disbursement", "update")
    body = await _body(request)
    locale = locale_of(request)
    try:
        values = loan.read_disbursement(project, body)
        await loan.disburse(project, values, user, aftercare.rules_of(bundle.tenant))
    except Invalid as exc:
        raise invalid(exc) from exc
    except REFUSALS as exc:
        raise transition_refused(exc, "confirm_disbursement", locale) from exc
    statement = await loan.statement(project, today_in_china())
    return JSONResponse(
        {"loan": statement, "project": project_json(project, locale, enforcer, user)}, 201
    )


@tenant_endpoint()
async def loan_repay(request: Request) -> Response:
    """
    summary: Record a repayment (还款), scheduled or early; refused above the outstanding balance
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [paid_on, principal]
            properties:
              paid_on: {type: string, format: date}
              principal: {type: string, description: "yuan; at most the outstanding balance"}
              interest: {type: string}
              reference: {type: string, maxLength: 100}
    responses:
      201: {description: "{repayment, loan}"}
      403: {description: Not allowed (needs project:loan update)}
      404: {description: No such project in the caller's scope}
      409: {description: No disbursement yet, or the project is not in force}
      422:
        description: >-
          details by pointer; repayment_exceeds_outstanding when the principal is more
          than the outstanding balance (nothing changes)
    """
    _, enforcer, user, project = await project_from_path(request, for_update=True)
    check_allowed(enforcer, user, "project:loan", "update")
    body = await _body(request)
    try:
        row = await loan.repay(project, loan.read_repayment(body), user)
    except Invalid as exc:
        raise invalid(exc) from exc
    except loan.LoanRefused as exc:
        raise refused(exc) from exc
    statement = await loan.statement(project, today_in_china())
    repayment = next(p for p in (statement or {}).get("repayments", []) if p["id"] == str(row.id))
    return JSONResponse({"repayment": repayment, "loan": statement}, 201)


@tenant_endpoint()
async def project_release(request: Request) -> Response:
    """
    summary: Release the guarantee (解保) on full repayment or on the bank's release notice
    description: >-
      Fires release; the counter-guarantees are released (注销), the letters marked
      released (已解保), open post-loan tasks cancelled, in the same transaction.
      basis repaid needs the outstanding balance at 0.
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version, basis]
            properties:
              version: {type: integer}
              basis: {type: string, enum: [repaid, bank_notice]}
              notice_reference: {type: string, description: "the bank's notice (bank_notice)"}
              notice_on: {type: string, format: date}
              reason: {type: string}
    responses:
      200: {description: "{project, loan}"}
      403: {description: Not allowed (needs project:release update)}
      404: {description: No such project in the caller's scope}
      409:
        description: >-
          Not allowed from the state, stale, or principal outstanding without a notice
      422: {description: "details: [{pointer, message}]"}
    """
    _, enforcer, user, project = await project_from_path(request)
    check_allowed(enforcer, user, "project:release", "update")
    body = await _body(request)
    locale = locale_of(request)
    try:
        outcome = await loan.release(project, loan.read_release(body), user)
    except Invalid as exc:
        raise invalid(exc) from exc
    except loan.LoanRefused as exc:
        raise refused(exc) from exc
    except REFUSALS as exc:
        raise transition_refused(exc, "release", locale) from exc
    if outcome is None:
        raise HttpError(404, "not_found")
    return JSONResponse(
        {
            "project": project_json(outcome.project, locale, enforcer, user),
            "loan": await loan.statement(outcome.project, today_in_china()),
        }
    )


@tenant_endpoint()
async def tasks_index(request: Request) -> Response:
    """
    summary: The project's post-loan tasks (保后检查, renewals), by due date
    tags: [projects]
    responses:
      200: {description: "{items: [{id, rule, kind, title, due_on, status, note}]}"}
      403: {description: Not allowed (needs project:* read)}
      404: {description: No such project in the caller's scope}
    """
    _, _, _, project = await project_from_path(request)
    locale = locale_of(request)
    return JSONResponse(
        {"items": [aftercare.view(t, locale) for t in await aftercare.tasks_of(project)]}
    )


@tenant_endpoint()
async def task_done(request: Request) -> Response:
    """
    summary: Complete a post-loan task with what was found ({note})
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [note]
            properties: {note: {type: string, maxLength: 2000}}
    responses:
      200: {description: the task}
      403: {description: Not allowed (needs project:aftercare update)}
      404: {description: No such project in scope, or no such task of it}
      409: {description: The task is done or cancelled already}
      422: {description: "details: [{pointer, message}]"}
    """
    _, enforcer, user, project = await project_from_path(request)
    check_allowed(enforcer, user, "project:aftercare", "update")
    try:
        task_id = uuid.UUID(request.path_params["task_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    body = await _body(request)
    try:
        task = await aftercare.complete(project, task_id, aftercare.read_completion(body), user)
    except Invalid as exc:
        raise invalid(exc) from exc
    except aftercare.TaskClosed as exc:
        raise HttpError(409, "aftercare_task_closed", params={"status": exc.status}) from exc
    if task is None:
        raise HttpError(404, "not_found")
    return JSONResponse(aftercare.view(task, locale_of(request)))


@tenant_endpoint()
async def warnings_check(request: Request) -> Response:
    """
    summary: Check the early-warning signals (overdue days; court records re-check)
    description: >-
      Signals on a project 在保 fire raise_warning (→ 预警) and notify its owners, in
      the same transaction; every check is audited project.warning_checked.
    tags: [projects]
    responses:
      200: {description: "{signals, court, raised, notified, project}"}
      403: {description: Not allowed (needs project:raise_warning update)}
      404: {description: No such project in the caller's scope}
    """
    bundle, enforcer, user, project = await project_from_path(request, for_update=True)
    check_allowed(enforcer, user, "project:raise_warning", "update")
    services = services_of(request)
    form: dict[str, Any] = {}
    data: dict[str, Any] = {}
    found = await Record.get_in_tenant(project.record_id)
    if found is not None:
        try:
            form = FormDefinition.from_bundle(bundle, found.form_id).content
            record = await scoped_record(
                enforcer, user, found.form_id, found.id, keys=services.keys
            )
            data = record.data
        except (FormNotFound, HttpError):
            pass  # no form or not in scope: the court re-check says it had no subject
    try:
        checked = await warnings.check(
            project,
            tenant=bundle.tenant,
            gateway=services.plugins,
            form=form,
            data=data,
            user=user,
            today=today_in_china(),
        )
    except REFUSALS as exc:
        raise transition_refused(exc, "raise_warning", locale_of(request)) from exc
    return JSONResponse(
        {**checked.answer, "project": project_json(project, locale_of(request), enforcer, user)},
        background=deliver_ids_later(request, checked.sent),
    )


_BASE = "/projects/{project_id}"
ROUTES = [
    Route(_BASE + "/loan", loan_show, methods=["GET"]),
    Route(_BASE + "/loan", loan_disburse, methods=["POST"]),
    Route(_BASE + "/loan/repayments", loan_repay, methods=["POST"]),
    Route(_BASE + "/release", project_release, methods=["POST"]),
    Route(_BASE + "/tasks", tasks_index, methods=["GET"]),
    Route(_BASE + "/tasks/{task_id}/done", task_done, methods=["POST"]),
    Route(_BASE + "/warnings/check", warnings_check, methods=["POST"]),
]
