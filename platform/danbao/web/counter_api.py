"""A project's counter-guarantees (反担保) over HTTP, under
``/t/{slug}/api/projects/{id}/counter-guarantees``: list with the coverage, add, change.

Seen by whoever sees the project (``project:*`` read, the application's scope); changed
with ``project:counter_guarantees`` update. Another tenant's or an out-of-scope project,
or an item of another project, is a 404.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.guarantee import counter
from danbao.guarantee.values import Invalid
from danbao.web.errors import HttpError
from danbao.web.guards import check_allowed, read_json
from danbao.web.projects_api import project_from_path
from danbao.web.tenant_endpoint import tenant_endpoint

RESOURCE = ("project:counter_guarantees", "update")


def invalid(exc: Invalid) -> HttpError:
    return HttpError(422, "invalid", details=[f.as_json() for f in exc.faults])


async def _body(request: Request) -> dict:  # type: ignore[type-arg]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    return body


def closed(exc: counter.ProjectClosed) -> HttpError:
    return HttpError(409, "counter_guarantee_closed", params={"state": exc.state})


@tenant_endpoint()
async def items_index(request: Request) -> Response:
    """
    summary: The project's counter-guarantees and its coverage
    description: >-
      coverage.ratio = Σ valuation × (1 − haircut) of the items not released (注销) ÷
      the guaranteed amount, exact decimals.
    tags: [projects]
    responses:
      200:
        description: >-
          {items, coverage: {items, valuation, effective_value, guaranteed_amount, ratio}}
      403: {description: Not allowed (needs project:* read)}
      404: {description: No such project in the caller's scope}
    """
    _, _, _, project = await project_from_path(request)
    items = await counter.items_of(project)
    return JSONResponse(
        {
            "items": [counter.view(i) for i in items],
            "coverage": counter.coverage_of(project, items).as_json(),
        }
    )


@tenant_endpoint()
async def items_create(request: Request) -> Response:
    """
    summary: Add a counter-guarantee (mortgage, pledge or third-party guarantee)
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [kind, asset, description, owner, valuation, haircut]
            properties:
              kind: {type: string, enum: [mortgage, pledge, guarantee]}
              asset:
                type: string
                description: >-
                  mortgage: real_estate, land_use_right, vehicle, equipment, other;
                  pledge: equity, receivable, deposit, certificate_of_deposit, other;
                  guarantee: company, person
              description: {type: string, maxLength: 500}
              owner: {type: string, maxLength: 200, description: 抵押人 / 出质人 / 保证人}
              valuation: {type: string, description: "yuan, at most two decimals, >= 0"}
              haircut: {type: string, description: "0..1 (0.3 for 30%)"}
              registration: {type: string, enum: [unregistered, registering, registered, cancelled]}
              certificate_no: {type: string, description: "required once registered (他项权证号)"}
              registered_on: {type: string, format: date}
    responses:
      201: {description: "{item, coverage}"}
      403: {description: Not allowed (needs project:counter_guarantees update)}
      404: {description: No such project in the caller's scope}
      409: {description: The project is closed (withdrawn, rejected, released, written off)}
      422: {description: "details: [{pointer, message}]"}
    """
    _, enforcer, user, project = await project_from_path(request, for_update=True)
    check_allowed(enforcer, user, *RESOURCE)
    body = await _body(request)
    try:
        item = await counter.add(project, counter.read(body), user)
    except Invalid as exc:
        raise invalid(exc) from exc
    except counter.ProjectClosed as exc:
        raise closed(exc) from exc
    coverage = await counter.coverage(project)
    return JSONResponse({"item": counter.view(item), "coverage": coverage.as_json()}, 201)


@tenant_endpoint()
async def items_change(request: Request) -> Response:
    """
    summary: Change a counter-guarantee ({version, …changed values}), e.g. its registration
    tags: [projects]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [version]
            properties:
              version: {type: integer, description: the item version the caller saw}
              valuation: {type: string}
              haircut: {type: string}
              registration: {type: string, enum: [unregistered, registering, registered, cancelled]}
              certificate_no: {type: string}
              registered_on: {type: string, format: date}
    responses:
      200: {description: "{item, coverage}"}
      403: {description: Not allowed (needs project:counter_guarantees update)}
      404: {description: No such project in scope, or no such item of it}
      409: {description: "The project is closed, or the item moved on (details: its version)"}
      422: {description: "details: [{pointer, message}]"}
    """
    _, enforcer, user, project = await project_from_path(request, for_update=True)
    check_allowed(enforcer, user, *RESOURCE)
    try:
        item_id = uuid.UUID(request.path_params["item_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    body = await _body(request)
    try:
        item = await counter.change(project, item_id, body, user)
    except Invalid as exc:
        raise invalid(exc) from exc
    except counter.ProjectClosed as exc:
        raise closed(exc) from exc
    except counter.StaleItem as exc:
        details = [{"pointer": "/version", "version": exc.item.version}]
        raise HttpError(409, "counter_guarantee_stale", details=details) from exc
    if item is None:
        raise HttpError(404, "not_found")
    coverage = await counter.coverage(project)
    return JSONResponse({"item": counter.view(item), "coverage": coverage.as_json()})


_BASE = "/projects/{project_id}/counter-guarantees"
ROUTES = [
    Route(_BASE, items_index, methods=["GET"]),
    Route(_BASE, items_create, methods=["POST"]),
    Route(_BASE + "/{item_id}", items_change, methods=["PATCH"]),
]
