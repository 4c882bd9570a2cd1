"""The console page for moving a form's records to a newer version.

``/t/{slug}/admin/forms/{form_id}/migrations`` shows how many records each version holds,
takes a mapping (prefilled with ``mapping.suggest``) and answers with the dry-run report
on the same page, or keeps it as a planned run; ``…/migrations/{run_id}`` shows a run's
report and starts it or its rollback. Everything goes through ``migrations_api``'s helpers,
so the page checks, plans and queues exactly as the API does.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.functions import Count

from danbao.db.models import Record
from danbao.definitions.versions import list_versions
from danbao.records import migration, migration_job
from danbao.records.mapping import suggest
from danbao.web.errors import HttpError
from danbao.web.guards import require
from danbao.web.migrations_api import form_id_of, plan_for, run_from_path, start_for
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, tenant_endpoint

ACTIVE = (migration.QUEUED, migration.RUNNING, migration.ROLLBACK_QUEUED, migration.ROLLING_BACK)


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


def _csrf(request: Request) -> str:
    auth = caller_of(request).auth
    return auth.session.csrf_token if auth is not None and auth.session is not None else ""


async def _records_by_version(form_id: str) -> dict[int, int]:
    rows = (
        await Record.filter(form_id=form_id)
        .annotate(n=Count("id"))
        .group_by("form_version")
        .values("form_version", "n")
    )
    return {
        int(r["form_version"]): int(r["n"]) for r in sorted(rows, key=lambda r: r["form_version"])
    }


async def _suggested(form_id: str, old: int, new: int) -> str:
    try:
        source, target = await migration.forms_at(form_id, old, new)
    except migration.MigrationRefused:
        return "[]"
    return json.dumps(suggest(source, target), ensure_ascii=False, indent=2)


@tenant_endpoint()
async def migrations_page(request: Request) -> Response:
    form_id = form_id_of(request)
    posting = request.method == "POST"
    await require(request, "admin:definitions", "update" if posting else "read")
    numbers = [v.number for v in await list_versions()]
    counts = await _records_by_version(form_id)
    latest = numbers[-1] if numbers else 0
    older = [v for v in counts if v < latest]
    context: dict[str, Any] = {
        "tenant": caller_of(request).tenant,
        "base": _base(request),
        "csrf": _csrf(request),
        "form_id": form_id,
        "numbers": numbers,
        "counts": counts,
        "runs": await migration.list_runs(form_id),
        "report": None,
        "errors": [],
        "from_version": older[0] if older else max(latest - 1, 1),
        "to_version": latest,
    }
    status = 200
    if posting:
        posted = await request.form()
        text = str(posted.get("operations") or "[]")
        body: dict[str, Any] = {}
        try:
            body = {
                "from_version": int(str(posted.get("from_version"))),
                "to_version": int(str(posted.get("to_version"))),
                "operations": json.loads(text),
            }
        except ValueError as exc:
            context["errors"] = [{"pointer": "/operations", "message": str(exc)}]
        context.update(
            operations=text,
            from_version=body.get("from_version", context["from_version"]),
            to_version=body.get("to_version", context["to_version"]),
        )
        if body:
            keep = posted.get("action") == "plan"
            try:
                report, run = await plan_for(request, form_id, body, keep=keep)
            except HttpError as refused:
                if refused.status != 422:
                    raise
                context["errors"] = refused.details or []
            else:
                if run is not None:
                    url = f"{_base(request)}/admin/forms/{form_id}/migrations/{run.id}"
                    return RedirectResponse(url, 303)
                context["report"] = report.as_json()
        status = 422 if context["errors"] else 200
    else:
        context["operations"] = await _suggested(
            form_id, context["from_version"], context["to_version"]
        )
    return render(request, "admin/migrations.html", context, status_code=status)


@tenant_endpoint()
async def run_page(request: Request) -> Response:
    await require(request, "admin:definitions", "read")
    form_id = form_id_of(request)
    run = await run_from_path(request, form_id)
    return render(
        request,
        "admin/migration.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "form_id": form_id,
            "run": run,
            "active": run.status in ACTIVE,
            "operations": json.dumps(run.operations, ensure_ascii=False, indent=2),
        },
    )


async def _start(request: Request, action: str) -> Response:
    await require(request, "admin:definitions", "update")
    form_id = form_id_of(request)
    run = await run_from_path(request, form_id, for_update=True)
    task = await start_for(request, run, action)
    url = f"{_base(request)}/admin/forms/{form_id}/migrations/{run.id}"
    return RedirectResponse(url, 303, background=task)


@tenant_endpoint()
async def run_start(request: Request) -> Response:
    return await _start(request, migration_job.APPLY)


@tenant_endpoint()
async def run_rollback(request: Request) -> Response:
    return await _start(request, migration_job.ROLLBACK)


ROUTES = [
    Route("/admin/forms/{form_id}/migrations", migrations_page, methods=["GET", "POST"]),
    Route("/admin/forms/{form_id}/migrations/{run_id}", run_page, methods=["GET"]),
    Route("/admin/forms/{form_id}/migrations/{run_id}/run", run_start, methods=["POST"]),
    Route("/admin/forms/{form_id}/migrations/{run_id}/rollback", run_rollback, methods=["POST"]),
]
