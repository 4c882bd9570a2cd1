"""Moving running approvals to a newer chain version over HTTP, under
``/t/{slug}/api/workflows/{workflow_id}/migrations`` (shaped like the record migrations).

Reading runs needs ``admin:approvals`` read; the dry run, keeping a plan and running it
need ``admin:approvals`` update. A run is a job: the request marks it queued and answers
202, and the job is enqueued once that change has committed (a Starlette background
task runs after the request's transaction). The ``*_for`` helpers are shared with the
console page (``workflow_migration_pages``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.db.models import WorkflowMigration
from danbao.web.errors import HttpError
from danbao.web.guards import read_json, require
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint
from danbao.workflow import migration_job, migrations
from danbao.workflow.migrate import MappingRefused

_WORKFLOW_ID = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_BODY_KEYS = frozenset({"from_version", "to_version", "mapping", "dry_run"})


def workflow_id_of(request: Request) -> str:
    workflow_id = str(request.path_params["workflow_id"])
    if not _WORKFLOW_ID.fullmatch(workflow_id):
        raise HttpError(404, "not_found")
    return workflow_id


def _refused(refused: MappingRefused) -> HttpError:
    details = [{"pointer": p.pointer, "message": p.message} for p in refused.problems]
    return HttpError(422, "invalid", details=details)


async def plan_for(
    request: Request, workflow_id: str, body: Any, *, keep: bool
) -> tuple[migrations.Report, WorkflowMigration | None]:
    """Check and dry-run ``{from_version, to_version, mapping}``; 422 with
    ``{pointer, message}`` for every problem of the request or the mapping itself."""
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    errors = [
        {"pointer": f"/{key}", "message": "not a key of a migration"}
        for key in sorted(set(body) - _BODY_KEYS)
    ]
    errors += [
        {"pointer": f"/{key}", "message": "must be a positive integer"}
        for key in ("from_version", "to_version")
        if isinstance(body.get(key), bool) or not isinstance(body.get(key), int) or body[key] < 1
    ]
    if errors:
        raise HttpError(422, "invalid", details=errors)
    try:
        return await migrations.plan(
            services_of(request).keys,
            workflow_id,
            body["from_version"],
            body["to_version"],
            body.get("mapping") or {},
            created_by=caller_of(request).user.id,
            keep=keep,
        )
    except MappingRefused as refused:
        raise _refused(refused) from refused


async def run_from_path(
    request: Request, workflow_id: str, *, for_update: bool = False
) -> WorkflowMigration:
    try:
        run_id = uuid.UUID(request.path_params["migration_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    run = await migrations.get_run(run_id, workflow_id, for_update=for_update)
    if run is None:
        raise HttpError(404, "not_found")
    return run


async def start_for(request: Request, run: WorkflowMigration) -> BackgroundTask:
    """Mark the run queued; the returned task enqueues its job after commit."""
    try:
        await migrations.request_run(run)
    except migrations.WrongState as exc:
        raise HttpError(409, "migration_state", params={"status": run.status}) from exc
    tenant = caller_of(request).tenant
    return BackgroundTask(
        migration_job.enqueue,
        services_of(request).queue,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        run_id=run.id,
    )


@tenant_endpoint()
async def workflow_migrations_index(request: Request) -> Response:
    """
    summary: The runs moving a chain's approvals to a newer version, newest first
    tags: [approvals]
    responses:
      200: {description: "{runs: [...]}"}
      403: {description: Not allowed (needs admin:approvals read)}
    """
    await require(request, "admin:approvals", "read")
    runs = await migrations.list_runs(workflow_id_of(request))
    return JSONResponse({"runs": [migrations.run_json(r) for r in runs]})


@tenant_endpoint()
async def workflow_migrations_create(request: Request) -> Response:
    """
    summary: >-
      Check a node mapping and dry-run it on every running approval of the chain pinned to
      from_version; without dry_run, keep it as a planned run
    tags: [approvals]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [from_version, to_version]
            properties:
              from_version: {type: integer, description: the approvals pinned to this version move}
              to_version: {type: integer, description: a later published version}
              dry_run: {type: boolean, description: "true: report only, nothing is stored"}
              mapping:
                type: object
                additionalProperties: {type: [string, "null"]}
                description: >-
                  old node id -> new node id, or null to forget a passed node. Unnamed nodes
                  map to the same id; a live node that changed or is gone must be named
    responses:
      200:
        description: >-
          Dry run: {report: {total, movable, refused, instances: [{instance, can_move,
          moves: [{node, to, how, tasks, users}], forgotten, after, problems:
          [{pointer, code, message}]}]}}
      201: {description: "The planned run with its dry-run report"}
      403: {description: Not allowed (needs admin:approvals update)}
      422: {description: "Bad versions, chain or mapping; details list {pointer, message}"}
    """
    await require(request, "admin:approvals", "update")
    body = await read_json(request)
    dry = isinstance(body, dict) and body.get("dry_run") is True
    report, run = await plan_for(request, workflow_id_of(request), body, keep=not dry)
    if run is None:
        return JSONResponse({"report": report.as_json()})
    return JSONResponse(migrations.run_json(run), status_code=201)


@tenant_endpoint()
async def workflow_migration_show(request: Request) -> Response:
    """
    summary: One approval migration run with its dry-run and run reports
    tags: [approvals]
    responses:
      200: {description: "The run; report.run lists each approval: moved, refused, skipped"}
      404: {description: No such run of this chain in the tenant}
    """
    await require(request, "admin:approvals", "read")
    run = await run_from_path(request, workflow_id_of(request))
    return JSONResponse(migrations.run_json(run))


@tenant_endpoint()
async def workflow_migration_run(request: Request) -> Response:
    """
    summary: >-
      Carry out a planned (or failed) run as a job: each approval moves in its own
      transaction or stays pinned, with its reasons
    tags: [approvals]
    responses:
      202: {description: Queued; poll the run for its status}
      404: {description: No such run}
      409: {description: The run is running or done}
    """
    await require(request, "admin:approvals", "update")
    run = await run_from_path(request, workflow_id_of(request), for_update=True)
    task = await start_for(request, run)
    return JSONResponse(migrations.run_json(run), status_code=202, background=task)


ROUTES = [
    Route("/workflows/{workflow_id}/migrations", workflow_migrations_index, methods=["GET"]),
    Route("/workflows/{workflow_id}/migrations", workflow_migrations_create, methods=["POST"]),
    Route(
        "/workflows/{workflow_id}/migrations/{migration_id}",
        workflow_migration_show,
        methods=["GET"],
    ),
    Route(
        "/workflows/{workflow_id}/migrations/{migration_id}/run",
        workflow_migration_run,
        methods=["POST"],
    ),
]
