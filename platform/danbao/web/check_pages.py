"""The staff page of a record's due-diligence checks: run them, read what came back.

Authorised exactly like the API (``checks_api``): running needs ``update`` on the form,
reading needs ``read`` and the record in scope; a credit report's content only for roles
that may ``unmask``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.plugins.checks import CHECKS, NoSubject, run_checks
from danbao.web.admin_pages import _csrf
from danbao.web.checks_api import visible_checks
from danbao.web.records_api import pinned_form, record_from_path
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, services_of, tenant_endpoint


def _url(request: Request) -> str:
    p = request.path_params
    return f"{cookie_path(request).rstrip('/')}/forms/{p['form_id']}/records/{p['record_id']}"


@tenant_endpoint()
async def checks_page(request: Request) -> Response:
    ctx, record = await record_from_path(request, "read")
    resource = f"form:{ctx.form.form_id}"
    items = await visible_checks(request, ctx, record)
    return render(
        request,
        "forms/checks.html",
        {
            "tenant": caller_of(request).tenant,
            "csrf": _csrf(request),
            "record": record,
            "record_url": _url(request),
            "items": items,
            "checks": list(CHECKS),
            "can_run": ctx.enforcer.allowed(ctx.user.roles, resource, "update"),
            "outcomes": request.query_params.getlist("o"),
        },
    )


@tenant_endpoint()
async def checks_run_page(request: Request) -> Response:
    ctx, record = await record_from_path(request, "update")
    form = await request.form()
    chosen = [c for c in CHECKS if form.get(f"check|{c}") == "on"] or list(CHECKS)
    consent = str(form.get("consent_document_id") or "").strip() or None
    definition = await pinned_form(ctx, record)
    try:
        outcomes = await run_checks(
            services_of(request).plugins,
            definition.content,
            str(record.id),
            record.data,
            chosen,
            consent_document_id=consent,
        )
        summary = [f"{o.check}:{'ok' if o.ok else o.error}" for o in outcomes]
    except NoSubject:
        summary = ["-:no_subject"]
    query = "&".join(f"o={s}" for s in summary)
    return RedirectResponse(f"{_url(request)}/checks?{query}", 303)


ROUTES = [
    Route("/forms/{form_id}/records/{record_id}/checks", checks_page, methods=["GET"]),
    Route("/forms/{form_id}/records/{record_id}/checks", checks_run_page, methods=["POST"]),
]
