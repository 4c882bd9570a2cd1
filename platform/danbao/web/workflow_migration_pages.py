"""The console page for moving running approvals to a newer chain version.

``/t/{slug}/admin/approval-migrations`` (``?workflow=&from_version=&to_version=``): how
many running approvals each version of the chain holds, the mapping editor (one row per
node an approval can stand at or have passed: kept by id, another node, or forgotten),
and the dry run answered on the same page, approval by approval; or the plan kept as a
run. ``…/approval-migrations/{migration_id}`` shows a run with its reports and starts it.
Everything goes through ``workflow_migrations_api``'s helpers, so the page checks, plans
and queues exactly as the API does.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.functions import Count

from danbao.db.models import WorkflowInstance
from danbao.definitions.versions import list_versions
from danbao.web.errors import HttpError
from danbao.web.guards import require
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, services_of, tenant_endpoint
from danbao.web.workflow_migrations_api import plan_for, start_for
from danbao.workflow import migrations
from danbao.workflow.migrate import LIVE, MappingRefused, mappable

FORGET = "~forget"
"""The mapping editor's value for null: forget a passed node."""


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


def _csrf(request: Request) -> str:
    auth = caller_of(request).auth
    return auth.session.csrf_token if auth is not None and auth.session is not None else ""


async def _live_by_version(workflow_id: str) -> dict[int, int]:
    rows = (
        await WorkflowInstance.filter(workflow_id=workflow_id, status__in=LIVE)
        .annotate(n=Count("id"))
        .group_by("definition_version")
        .values("definition_version", "n")
    )
    return {int(r["definition_version"]): int(r["n"]) for r in rows}


def _number(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _mapping_from(posted: FormData) -> dict[str, str | None]:
    mapping: dict[str, str | None] = {}
    for key, value in posted.multi_items():
        if key.startswith("map.") and isinstance(value, str) and value:
            mapping[key[4:]] = None if value == FORGET else value
    return mapping


@tenant_endpoint()
async def approval_migrations_page(request: Request) -> Response:
    posting = request.method == "POST"
    await require(request, "admin:approvals", "update" if posting else "read")
    active = await services_of(request).enforcer()
    chains = sorted(active[1].workflows) if active else []
    posted = await request.form() if posting else None
    source = posted if posted is not None else request.query_params
    workflow_id = str(source.get("workflow") or (chains[0] if chains else ""))
    if workflow_id not in chains:
        raise HttpError(404, "not_found")
    numbers = [v.number for v in await list_versions()]
    counts = await _live_by_version(workflow_id)
    latest = numbers[-1] if numbers else 0
    older = sorted(v for v in counts if v < latest)
    from_version = _number(source.get("from_version"), older[0] if older else max(latest - 1, 1))
    to_version = _number(source.get("to_version"), latest)
    mapping = _mapping_from(posted) if posted is not None else {}
    context: dict[str, Any] = {
        "tenant": caller_of(request).tenant,
        "base": _base(request),
        "csrf": _csrf(request),
        "chains": chains,
        "workflow": workflow_id,
        "numbers": numbers,
        "counts": counts,
        "from_version": from_version,
        "to_version": to_version,
        "mapping": mapping,
        "forget": FORGET,
        "rows": [],
        "runs": await migrations.list_runs(workflow_id),
        "report": None,
        "errors": [],
    }
    try:
        found = await migrations.chains_at(workflow_id, from_version, to_version)
        context["rows"] = mappable(found.old, found.new)
    except MappingRefused as refused:
        context["errors"] = [p.as_json() for p in refused.problems]
    status = 200
    if posted is not None and not context["errors"]:
        body = {"from_version": from_version, "to_version": to_version, "mapping": mapping}
        try:
            report, run = await plan_for(
                request, workflow_id, body, keep=posted.get("action") == "plan"
            )
        except HttpError as refused:
            if refused.status != 422:
                raise
            context["errors"] = refused.details or []
        else:
            if run is not None:
                url = f"{_base(request)}/admin/approval-migrations/{run.id}"
                return RedirectResponse(url, 303)
            context["report"] = report.as_json()
    if context["errors"]:
        status = 422 if posting else 200
    return render(request, "admin/approval_migrations.html", context, status_code=status)


async def _run(request: Request, *, for_update: bool = False) -> Any:
    try:
        run_id = uuid.UUID(str(request.path_params["migration_id"]))
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    run = await migrations.get_run(run_id, None, for_update=for_update)
    if run is None:
        raise HttpError(404, "not_found")
    return run


@tenant_endpoint()
async def approval_migration_page(request: Request) -> Response:
    await require(request, "admin:approvals", "read")
    run = await _run(request)
    return render(
        request,
        "admin/approval_migration.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "run": run,
            "active": run.status in (migrations.QUEUED, migrations.RUNNING),
        },
    )


@tenant_endpoint()
async def approval_migration_start(request: Request) -> Response:
    await require(request, "admin:approvals", "update")
    run = await _run(request, for_update=True)
    task = await start_for(request, run)
    url = f"{_base(request)}/admin/approval-migrations/{run.id}"
    return RedirectResponse(url, 303, background=task)


ROUTES = [
    Route("/admin/approval-migrations", approval_migrations_page, methods=["GET", "POST"]),
    Route("/admin/approval-migrations/{migration_id}", approval_migration_page, methods=["GET"]),
    Route(
        "/admin/approval-migrations/{migration_id}/run",
        approval_migration_start,
        methods=["POST"],
    ),
]
