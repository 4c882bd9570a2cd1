"""Standing proxies (代理) over HTTP: a user names who receives their new approval tasks
while they are away; an administrator (admin:approvals update) may do it for anyone, e.g.
for someone who is suddenly ill."""

from __future__ import annotations

import datetime as dt
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.db.models import User, WorkflowProxy
from danbao.web.errors import HttpError
from danbao.web.guards import read_json, require
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint
from danbao.workflow import proxies

_KEYS = {"proxy", "starts_on", "ends_on", "user"}


def _invalid(pointer: str, message: str) -> HttpError:
    return HttpError(422, "invalid", details=[{"pointer": pointer, "message": message}])


async def _is_admin(request: Request, user: User) -> bool:
    active = await services_of(request).enforcer()
    return bool(active and active[2].allowed(user.roles, "admin:approvals", "update"))


async def _person(email: object, pointer: str) -> User:
    if not isinstance(email, str) or not email.strip():
        raise _invalid(pointer, "an e-mail")
    found = await User.filter(email=email.strip().lower()).first()
    if found is None:
        raise _invalid(pointer, f"no user {email!r} in this tenant")
    return found


def _date(value: object, pointer: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _invalid(pointer, "a date, YYYY-MM-DD") from None


@tenant_endpoint()
async def proxies_list(request: Request) -> Response:
    """
    summary: The caller's standing proxies, and those they stand in for
    tags: [approvals]
    responses:
      200: {description: "{items: [{id, user, proxy, starts_on, ends_on}]}"}
    """
    user: User = caller_of(request).user
    return JSONResponse({"items": await proxies.of_user(user.id)})


@tenant_endpoint()
async def proxies_name(request: Request) -> Response:
    """
    summary: Name a proxy who receives one's new approval tasks for a range of days
    tags: [approvals]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [proxy, starts_on, ends_on]
            properties:
              proxy: {type: string, description: the proxy's e-mail}
              starts_on: {type: string, format: date}
              ends_on: {type: string, format: date, description: inclusive, China dates}
              user: {type: string, description: "whose proxy (administrators only; default: me)"}
    responses:
      201: {description: The proxy was named}
      200: {description: The same proxy for the same days was already named}
      400: {description: Malformed request}
      403: {description: Naming a proxy for someone else without admin:approvals update}
      422: {description: "Bad dates, an unknown or inactive proxy, an overlap (with pointers)"}
    """
    caller: User = caller_of(request).user
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected an object"})
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise HttpError(400, "bad_request", params={"detail": f"unknown key {unknown[0]!r}"})
    user = caller
    if body.get("user") is not None:
        user = await _person(body["user"], "/user")
        if user.id != caller.id:
            await require(request, "admin:approvals", "update")
    proxy = await _person(body.get("proxy"), "/proxy")
    starts_on = _date(body.get("starts_on"), "/starts_on")
    ends_on = _date(body.get("ends_on"), "/ends_on")
    try:
        row, made = await proxies.name_proxy(
            user=user, proxy=proxy, starts_on=starts_on, ends_on=ends_on, by=caller.id
        )
    except proxies.ProxyInvalid as exc:
        raise _invalid(exc.pointer, exc.message) from None
    return JSONResponse(proxies.view(row), status_code=201 if made else 200)


@tenant_endpoint()
async def proxies_revoke(request: Request) -> Response:
    """
    summary: Revoke a standing proxy (the one who named it for themselves, or an administrator)
    tags: [approvals]
    responses:
      204: {description: Revoked (or already)}
      404: {description: No such proxy of the caller's}
    """
    caller: User = caller_of(request).user
    try:
        proxy_id = uuid.UUID(request.path_params["proxy_id"])
    except ValueError:
        raise HttpError(404, "not_found") from None
    row = await WorkflowProxy.get_in_tenant(proxy_id)
    if row is None or (row.user_id != caller.id and not await _is_admin(request, caller)):
        raise HttpError(404, "not_found")
    await proxies.revoke(row)
    return Response(status_code=204)


ROUTES = [
    Route("/approvals/proxies", proxies_list, methods=["GET"]),
    Route("/approvals/proxies", proxies_name, methods=["POST"]),
    Route("/approvals/proxies/{proxy_id}", proxies_revoke, methods=["DELETE"]),
]
