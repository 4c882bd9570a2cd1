"""Due-diligence checks on a record over HTTP: ``…/records/{record_id}/checks``.

Running checks needs ``update`` on the form (it spends the tenant's paid queries);
reading them needs ``read`` and the record in the caller's data scope. Credit reports are
personal data: their content is shown only to roles that may ``unmask`` the form.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.db.models import Record
from danbao.plugins.checks import CHECKS, NoSubject, run_checks, stored_checks
from danbao.web.errors import HttpError
from danbao.web.guards import read_json
from danbao.web.records_api import FormContext, pinned_form, record_from_path
from danbao.web.tenant_endpoint import services_of, tenant_endpoint

PERSONAL = frozenset({"credit_report"})


async def visible_checks(
    request: Request, ctx: FormContext, record: Record
) -> list[dict[str, Any]]:
    """The record's kept answers, a credit report's content only for roles that may unmask."""
    may_unmask = ctx.enforcer.allowed(ctx.user.roles, f"form:{ctx.form.form_id}", "unmask")
    items: list[dict[str, Any]] = []
    for item in await stored_checks(services_of(request).plugins, str(record.id)):
        if item["operation"] in PERSONAL and not may_unmask:
            item = {**item, "result": None, "hidden": True}
        items.append(item)
    return items


@tenant_endpoint()
async def checks_run(request: Request) -> Response:
    """
    summary: Run due-diligence checks (registry, court, credit) on the record's applicant
    tags: [records]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [checks]
            properties:
              checks: {type: array, items: {enum: [registry, court, credit]}}
              consent_document_id: {type: string, description: "signed consent (credit)"}
    responses:
      200: {description: "{outcomes: [{check, plugin, ok, result_ids, reused, error, detail}]}"}
      404: {description: No such record in the caller's scope}
      422: {description: Unknown check, or the form names no applicant fields}
    """
    ctx, record = await record_from_path(request, "update")
    body = await read_json(request)
    checks = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(checks, list) or not checks or any(c not in CHECKS for c in checks):
        raise HttpError(
            422,
            "invalid",
            details=[{"pointer": "/checks", "message": f"one or more of {sorted(CHECKS)}"}],
        )
    consent = body.get("consent_document_id")
    form = await pinned_form(ctx, record)
    try:
        outcomes = await run_checks(
            services_of(request).plugins,
            form.content,
            str(record.id),
            record.data,
            list(dict.fromkeys(checks)),
            consent_document_id=str(consent) if consent else None,
        )
    except NoSubject as exc:
        raise HttpError(422, "invalid", details=[{"pointer": "", "message": str(exc)}]) from exc
    return JSONResponse({"outcomes": [o.as_json() for o in outcomes]})


@tenant_endpoint()
async def checks_index(request: Request) -> Response:
    """
    summary: The check results kept with the record, newest first
    tags: [records]
    responses:
      200: {description: "{items: [{id, plugin, operation, purpose, created_at, result | hidden}]}"}
      404: {description: No such record in the caller's scope}
    """
    ctx, record = await record_from_path(request, "read")
    return JSONResponse({"items": await visible_checks(request, ctx, record)})


ROUTES = [
    Route("/forms/{form_id}/records/{record_id}/checks", checks_run, methods=["POST"]),
    Route("/forms/{form_id}/records/{record_id}/checks", checks_index, methods=["GET"]),
]
