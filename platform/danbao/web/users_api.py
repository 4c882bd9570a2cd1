"""``/t/{slug}/api/users``: the tenant administrator assigns people to roles and departments."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise.exceptions import IntegrityError

from danbao.auth.assignments import AssignmentError, AssignmentInvalid, change_assignment
from danbao.auth.assignments import check_assignment as check_roles
from danbao.auth.contacts import UNCHANGED, change_contacts, check_contacts, contacts_of
from danbao.auth.login import check_email
from danbao.auth.passwords import WeakPassword, check_strength
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import User
from danbao.definitions import Bundle
from danbao.i18n import translate
from danbao.portal.identity import OWNER_SUFFIX
from danbao.provisioning import create_user
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import read_json, require
from danbao.web.tenant_endpoint import services_of, tenant_endpoint

MAX_PER_PAGE = 200


async def _user_json(keys: TenantKeys, user: User) -> dict[str, Any]:
    contacts = await contacts_of(keys, user)
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "roles": user.roles,
        "department": user.department,
        "is_active": user.is_active,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
        "wecom_userid": contacts.wecom_userid,
        "mobile": contacts.mobile_masked,  # never in clear over the API
    }


def _invalid(request: Request, errors: list[AssignmentError]) -> HttpError:
    locale = locale_of(request)
    details = [
        {"pointer": e.pointer, "message": translate(locale, f"assign.{e.code}", **e.params)}
        for e in errors
    ]
    return HttpError(422, "invalid", details=details)


async def user_from_path(request: Request) -> User:
    """The user named by ``{user_id}`` in the tenant in context; 404 for foreign and missing."""
    try:
        user_id = uuid.UUID(request.path_params["user_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    user = await User.get_in_tenant(user_id)
    if user is None:
        raise HttpError(404, "not_found")
    return user


async def _bundle(request: Request) -> Bundle:
    active = await services_of(request).bundles.current()
    if active is None:
        raise HttpError(404, "not_found")
    return active[1]


async def _body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    return body


@tenant_endpoint()
async def users_index(request: Request) -> Response:
    """
    summary: The tenant's users with their roles and departments (?page=&per_page=)
    tags: [users]
    responses:
      200: {description: "{items, total, page, per_page}"}
      403: {description: Needs admin:users read}
    """
    await require(request, "admin:users", "read")
    try:
        page = max(1, int(request.query_params.get("page", "1")))
        per_page = min(MAX_PER_PAGE, max(1, int(request.query_params.get("per_page", "50"))))
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": "page, per_page"}) from exc
    query = User.exclude(email__endswith=OWNER_SUFFIX).order_by("email")  # staff only
    users = await query.offset((page - 1) * per_page).limit(per_page)
    return JSONResponse(
        {
            "items": [await _user_json(services_of(request).keys, u) for u in users],
            "total": await User.exclude(email__endswith=OWNER_SUFFIX).count(),
            "page": page,
            "per_page": per_page,
        }
    )


@tenant_endpoint()
async def users_create(request: Request) -> Response:
    """
    summary: Add a user with roles and a department
    tags: [users]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [email, name, password, roles]
            properties:
              email: {type: string}
              name: {type: string}
              password: {type: string}
              roles: {type: array, items: {type: string}}
              department: {type: string}
              wecom_userid: {type: string, description: "WeCom (企业微信) user id"}
              mobile: {type: string, description: "mainland mobile; stored sealed"}
    responses:
      201: {description: Created (mobile shown masked)}
      409: {description: The e-mail is taken}
      422: {description: "details: [{pointer, message}]"}
    """
    await require(request, "admin:users", "create")
    body = await _body(request)
    errors = check_roles(await _bundle(request), body.get("roles"), body.get("department"))
    email = str(body.get("email") or "")
    name = str(body.get("name") or "").strip()
    password = str(body.get("password") or "")
    try:
        email = check_email(email)
    except ValueError:
        errors.append(AssignmentError("/email", "email", {}))
    if not 1 <= len(name) <= 100:
        errors.append(AssignmentError("/name", "name", {}))
    contact_ids = {k: body.get(k, UNCHANGED) for k in ("wecom_userid", "mobile")}
    errors.extend(check_contacts(**contact_ids))
    try:
        check_strength(password)
    except WeakPassword:
        errors.append(AssignmentError("/password", "weak_password", {}))
    if errors:
        raise _invalid(request, errors)
    if await User.filter(email=email).exists():
        raise HttpError(409, "conflict")
    try:
        user = await create_user(email, name, password, body["roles"], body.get("department"))
    except IntegrityError as exc:  # another administrator added the same e-mail meanwhile
        raise HttpError(409, "conflict") from exc
    keys = services_of(request).keys
    user = await change_contacts(keys, user, **contact_ids)
    return JSONResponse(await _user_json(keys, user), status_code=201)


@tenant_endpoint()
async def users_update(request: Request) -> Response:
    """
    summary: Change a user's roles, department, whether they may sign in, or their contact
      ids for messaging (WeCom user id, mobile; null or "" clears one)
    tags: [users]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              roles: {type: array, items: {type: string}}
              department: {type: [string, "null"]}
              is_active: {type: boolean}
              wecom_userid: {type: [string, "null"]}
              mobile: {type: [string, "null"], description: "stored sealed, shown masked"}
    responses:
      200: {description: The user as changed}
      404: {description: No such user in this tenant}
      422: {description: "details: [{pointer, message}] (unknown role, last administrator, …)"}
    """
    await require(request, "admin:users", "update")
    user = await user_from_path(request)
    body = await _body(request)
    keys = services_of(request).keys
    contact_ids = {k: body.get(k, UNCHANGED) for k in ("wecom_userid", "mobile")}
    try:
        # Both checked before either is applied, so nothing is half-changed.
        errors = check_contacts(**contact_ids)
        if errors:
            raise AssignmentInvalid(errors)
        if {"roles", "department", "is_active"} & body.keys():
            user = await change_assignment(
                await _bundle(request),
                user,
                roles=body.get("roles"),
                department=body.get("department", ...),
                is_active=body.get("is_active"),
            )
        user = await change_contacts(keys, user, **contact_ids)
    except AssignmentInvalid as invalid:
        raise _invalid(request, invalid.errors) from invalid
    return JSONResponse(await _user_json(keys, user))


ROUTES = [
    Route("/users", users_index, methods=["GET"]),
    Route("/users", users_create, methods=["POST"]),
    Route("/users/{user_id}", users_update, methods=["PATCH"]),
]
