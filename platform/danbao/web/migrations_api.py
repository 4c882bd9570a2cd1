"""Record migrations over HTTP, under ``/t/{slug}/api/forms/{form_id}/migrations``.

Reading runs needs ``admin:definitions`` read; planning (the dry run), running and rolling
back need ``admin:definitions`` update. Runs and rollbacks are jobs: the request marks the
run and answers 202, and the job is enqueued once that change has committed (a Starlette
background task runs after the request's transaction), so the job always finds it.
The ``*_for`` helpers are shared with the console page (``migration_pages``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.db.models import RecordMigration
from danbao.records import migration, migration_job
from danbao.records.mapping import suggest
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import read_json, require
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint

_FORM_ID = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_BODY_KEYS = frozenset({"from_version", "to_version", "operations", "dry_run"})


def form_id_of(request: Request) -> str:
    form_id = str(request.path_params["form_id"])
    if not _FORM_ID.fullmatch(form_id):
        raise HttpError(404, "not_found")
    return form_id


async def plan_for(
    request: Request, form_id: str, body: Any, *, keep: bool
) -> tuple[migration.Report, RecordMigration | None]:
    """Check and dry-run a mapping ``{from_version, to_version, operations}``; 422 with
    ``{pointer, message}`` for every problem."""
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
        return await migration.plan(
            services_of(request).keys,
            form_id,
            body["from_version"],
            body["to_version"],
            {"operations": body.get("operations", [])},
            locale=locale_of(request),
            created_by=caller_of(request).user.id,
            keep=keep,
        )
    except migration.MigrationRefused as refused:
        raise HttpError(422, "invalid", details=[e.as_json() for e in refused.errors]) from refused


async def run_from_path(
    request: Request, form_id: str, *, for_update: bool = False
) -> RecordMigration:
    try:
        run_id = uuid.UUID(request.path_params["run_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    run = await migration.get_run(run_id, form_id, for_update=for_update)
    if run is None:
        raise HttpError(404, "not_found")
    return run


async def start_for(request: Request, run: RecordMigration, action: str) -> BackgroundTask:
    """Mark the run queued for ``action``; the returned task enqueues its job after commit."""
    try:
        if action == migration_job.ROLLBACK:
            await migration.request_rollback(run, caller_of(request).user.id)
        else:
            await migration.request_run(run)
    except migration.WrongState as exc:
        raise HttpError(409, "migration_state", params={"status": run.status}) from exc
    tenant = caller_of(request).tenant
    return BackgroundTask(
        migration_job.enqueue,
        services_of(request).queue,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        run_id=run.id,
        action=action,
        locale=locale_of(request),
    )


@tenant_endpoint()
async def migrations_index(request: Request) -> Response:
    """
    summary: The migration runs of a form, newest first
    tags: [migrations]
    responses:
      200: {description: "{runs: [...]}"}
      403: {description: Not allowed (needs admin:definitions read)}
    """
    await require(request, "admin:definitions", "read")
    runs = await migration.list_runs(form_id_of(request))
    return JSONResponse({"runs": [migration.run_json(r) for r in runs]})


@tenant_endpoint()
async def migrations_create(request: Request) -> Response:
    """
    summary: Check a mapping and dry-run it; without dry_run, keep it as a planned run
    tags: [migrations]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [from_version, to_version, operations]
            properties:
              from_version: {type: integer, description: the records pinned to this version move}
              to_version: {type: integer, description: a later published version}
              dry_run: {type: boolean, description: "true: report only, nothing is stored"}
              operations:
                type: array
                items:
                  type: object
                  description: >-
                    {op: add, field, default} | {op: rename, from, to} |
                    {op: convert, field, conversion, to?} | {op: remove, field};
                    conversions: string_to_number, string_to_integer, number_to_string,
                    number_to_money_string, money_string_to_number, yuan_to_wan, wan_to_yuan
    responses:
      200: {description: "Dry run: {report: {total, affected, failed, records, failures}}"}
      201: {description: "The planned run with its dry-run report"}
      403: {description: Not allowed (needs admin:definitions update)}
      422: {description: "Invalid mapping or versions; details list {pointer, message}"}
    """
    await require(request, "admin:definitions", "update")
    body = await read_json(request)
    dry = isinstance(body, dict) and body.get("dry_run") is True
    report, run = await plan_for(request, form_id_of(request), body, keep=not dry)
    if run is None:
        return JSONResponse({"report": report.as_json()})
    return JSONResponse(migration.run_json(run), status_code=201)


@tenant_endpoint()
async def migrations_suggest(request: Request) -> Response:
    """
    summary: A starting mapping between two versions (?from=&to=)
    tags: [migrations]
    responses:
      200: {description: "{operations: [...]}: removes dropped fields, adds new required ones"}
      422: {description: "A version does not exist or lacks the form"}
    """
    await require(request, "admin:definitions", "read")
    params = request.query_params
    try:
        old, new = int(params.get("from") or ""), int(params.get("to") or "")
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": "from and to: numbers"}) from exc
    try:
        source, target = await migration.forms_at(form_id_of(request), old, new)
    except migration.MigrationRefused as refused:
        raise HttpError(422, "invalid", details=[e.as_json() for e in refused.errors]) from refused
    return JSONResponse({"operations": suggest(source, target)})


@tenant_endpoint()
async def migration_show(request: Request) -> Response:
    """
    summary: One migration run with its report
    tags: [migrations]
    responses:
      200: {description: The run}
      404: {description: No such run of this form in the tenant}
    """
    await require(request, "admin:definitions", "read")
    run = await run_from_path(request, form_id_of(request))
    return JSONResponse(migration.run_json(run))


@tenant_endpoint()
async def migration_run(request: Request) -> Response:
    """
    summary: Carry out a planned run (a job; all records or none)
    tags: [migrations]
    responses:
      202: {description: Queued; poll the run for its status}
      404: {description: No such run}
      409: {description: The run is not planned}
    """
    await require(request, "admin:definitions", "update")
    run = await run_from_path(request, form_id_of(request), for_update=True)
    task = await start_for(request, run, migration_job.APPLY)
    return JSONResponse(migration.run_json(run), status_code=202, background=task)


@tenant_endpoint()
async def migration_rollback(request: Request) -> Response:
    """
    summary: Restore every record of a done run as it was (a job; all records or none)
    tags: [migrations]
    responses:
      202: {description: Queued; poll the run for its status}
      404: {description: No such run}
      409: {description: The run is not done}
    """
    await require(request, "admin:definitions", "update")
    run = await run_from_path(request, form_id_of(request), for_update=True)
    task = await start_for(request, run, migration_job.ROLLBACK)
    return JSONResponse(migration.run_json(run), status_code=202, background=task)


ROUTES = [
    Route("/forms/{form_id}/migrations", migrations_index, methods=["GET"]),
    Route("/forms/{form_id}/migrations", migrations_create, methods=["POST"]),
    Route("/forms/{form_id}/migrations/suggest", migrations_suggest, methods=["GET"]),
    Route("/forms/{form_id}/migrations/{run_id}", migration_show, methods=["GET"]),
    Route("/forms/{form_id}/migrations/{run_id}/run", migration_run, methods=["POST"]),
    Route("/forms/{form_id}/migrations/{run_id}/rollback", migration_rollback, methods=["POST"]),
]
