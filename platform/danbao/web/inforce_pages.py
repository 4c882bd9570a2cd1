"""The staff page's in-force actions (合同与保函 → 放款与还款, 保后任务): record a
repayment, complete a post-loan task. Plain HTML forms that post here and come back to
the page; authorised like the API (the record in the caller's scope, then
``project:loan`` / ``project:aftercare`` update), refusals shown on the error page with
what was wrong.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.db.models import Project
from danbao.documents.issuing import project_of
from danbao.guarantee import aftercare, loan
from danbao.guarantee.values import Invalid
from danbao.web.errors import HttpError
from danbao.web.guards import check_allowed
from danbao.web.loan_api import refused
from danbao.web.records_api import record_from_path
from danbao.web.tenant_endpoint import cookie_path, tenant_endpoint


def _back(request: Request, done: str) -> RedirectResponse:
    p = request.path_params
    base = cookie_path(request).rstrip("/")
    return RedirectResponse(
        f"{base}/forms/{p['form_id']}/records/{p['record_id']}/documents?done={done}", 303
    )


async def _project(request: Request, resource: str) -> tuple[Any, Project]:
    ctx, record = await record_from_path(request, "read")
    check_allowed(ctx.enforcer, ctx.user, "project:*", "read")
    found = await project_of(record)
    if found is None:
        raise HttpError(404, "not_found")
    check_allowed(ctx.enforcer, ctx.user, resource, "update")
    project = await Project.filter(id=found.id).select_for_update().first()
    if project is None:  # pragma: no cover - found a moment ago, in this transaction
        raise HttpError(404, "not_found")
    return ctx, project


def _invalid(exc: Invalid) -> HttpError:
    detail = "; ".join(f"{f.pointer} {f.message}" for f in exc.faults)
    return HttpError(422, "bad_request", params={"detail": detail})


def _fields(form: Any, *names: str) -> dict[str, Any]:
    """The form's non-empty fields (an empty optional input is absent, not "")."""
    return {n: str(form.get(n)).strip() for n in names if str(form.get(n) or "").strip()}


@tenant_endpoint()
async def repayment_page(request: Request) -> Response:
    ctx, project = await _project(request, "project:loan")
    form = await request.form()
    body = _fields(form, "paid_on", "principal", "interest", "reference")
    try:
        await loan.repay(project, loan.read_repayment(body), ctx.user)
    except Invalid as exc:
        raise _invalid(exc) from exc
    except loan.LoanRefused as exc:
        raise refused(exc) from exc
    return _back(request, "repaid")


@tenant_endpoint()
async def task_done_page(request: Request) -> Response:
    ctx, project = await _project(request, "project:aftercare")
    try:
        task_id = uuid.UUID(request.path_params["task_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    form = await request.form()
    try:
        note = aftercare.read_completion(_fields(form, "note"))
        task = await aftercare.complete(project, task_id, note, ctx.user)
    except Invalid as exc:
        raise _invalid(exc) from exc
    except aftercare.TaskClosed as exc:
        raise HttpError(409, "aftercare_task_closed", params={"status": exc.status}) from exc
    if task is None:
        raise HttpError(404, "not_found")
    return _back(request, "task_done")


_BASE = "/forms/{form_id}/records/{record_id}/documents"
ROUTES = [
    Route(_BASE + "/repayments", repayment_page, methods=["POST"]),
    Route(_BASE + "/tasks/{task_id}", task_done_page, methods=["POST"]),
]
