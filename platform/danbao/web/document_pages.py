"""The staff page of a record's documents: preview, issue, download, open the letter's
public page. Authorised exactly like the API (``documents_api``): reading needs ``read``
on the form and the record in scope; issuing needs ``update`` on the form, or, for a
record with a project, the project event the document fires (``issuing_context``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.db.models import Project, ProjectDocument
from danbao.documents.compose import RenderFailed, UnknownDocument
from danbao.documents.issuing import (
    ISSUE_EVENTS,
    NotForThisForm,
    NotSignedAtOnce,
    issue,
    printed_fields,
    project_of,
)
from danbao.forms.identifiers import today_in_china
from danbao.guarantee import aftercare, counter, loan
from danbao.guarantee.loan import LIVE
from danbao.guarantee.states import State, state_name
from danbao.plugins.errors import PluginError
from danbao.web.admin_pages import _csrf
from danbao.web.documents_api import check_fields_visible, issuing_context, may_issue, verify_base
from danbao.web.errors import HttpError, locale_of
from danbao.web.projects_api import REFUSALS, transition_refused
from danbao.web.records_api import record_from_path
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, services_of, tenant_endpoint


def _url(request: Request) -> str:
    p = request.path_params
    return f"{cookie_path(request).rstrip('/')}/forms/{p['form_id']}/records/{p['record_id']}"


@tenant_endpoint()
async def documents_page(request: Request) -> Response:
    ctx, record = await record_from_path(request, "read")
    project = await project_of(record)
    declared = [
        {"id": doc_id, **doc, "can_issue": may_issue(ctx, doc["kind"], project is not None)}
        for doc_id, doc in sorted(ctx.bundle.documents.items())
        if doc["form"] == record.form_id
    ]
    issued = await ProjectDocument.filter(record_id=record.id).order_by("-issued_at")
    in_force = None
    if project is not None and ctx.enforcer.allowed(ctx.user.roles, "project:*", "read"):
        in_force = await in_force_view(project, locale_of(request))
        in_force["can_repay"] = State(project.state) in LIVE and ctx.enforcer.allowed(
            ctx.user.roles, "project:loan", "update"
        )
        in_force["can_tasks"] = ctx.enforcer.allowed(ctx.user.roles, "project:aftercare", "update")
        in_force["today"] = today_in_china().isoformat()
    api = f"{cookie_path(request).rstrip('/')}/api/forms/{record.form_id}/records/{record.id}"
    return render(
        request,
        "forms/documents.html",
        {
            "tenant": caller_of(request).tenant,
            "csrf": _csrf(request),
            "record": record,
            "record_url": _url(request),
            "api_url": api,
            "declared": declared,
            "issued": issued,
            "verify_base": verify_base(request),
            "project": project,
            "project_state": state_name(project.state, locale_of(request)) if project else None,
            "in_force": in_force,
            "done": request.query_params.get("done"),
        },
    )


async def in_force_view(project: Project, locale: str) -> dict[str, Any]:
    """What the page shows of a guarantee in force: counter-guarantees and coverage, the
    loan and its schedule, the post-loan tasks (the same views as the API)."""
    items = await counter.items_of(project)
    return {
        "items": [counter.view(i) for i in items],
        "coverage": counter.coverage_of(project, items).as_json(),
        "loan": await loan.statement(project, today_in_china()),
        "tasks": [aftercare.view(t, locale) for t in await aftercare.tasks_of(project)],
    }


@tenant_endpoint()
async def issue_page(request: Request) -> Response:
    form = await request.form()
    doc_id = str(form.get("document") or "")
    ctx, record = await issuing_context(request, doc_id)
    services = services_of(request)
    try:
        check_fields_visible(ctx.rules, printed_fields(ctx.bundle, str(form.get("document") or "")))
        await issue(
            ctx.bundle,
            ctx.version,
            str(form.get("document") or ""),
            record,
            gateway=services.plugins,
            store=services.store,
            verify_base=verify_base(request),
            issued_by=str(ctx.user.id),
        )
    except (UnknownDocument, NotForThisForm) as exc:
        raise HttpError(404, "not_found") from exc
    except RenderFailed as exc:
        raise HttpError(422, "invalid", details=[{"pointer": "", "message": str(exc)}]) from exc
    except (NotSignedAtOnce, PluginError) as exc:
        raise HttpError(409, "document_not_signed") from exc
    except REFUSALS as exc:
        event = ISSUE_EVENTS[ctx.bundle.documents[doc_id]["kind"]]
        raise transition_refused(exc, event, locale_of(request)) from exc
    return RedirectResponse(f"{_url(request)}/documents?done=issued", 303)


ROUTES = [
    Route("/forms/{form_id}/records/{record_id}/documents", documents_page, methods=["GET"]),
    Route("/forms/{form_id}/records/{record_id}/documents", issue_page, methods=["POST"]),
]
