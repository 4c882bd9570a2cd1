"""The tenant JSON API under ``/t/{slug}/api``. Each docstring's YAML is its OpenAPI entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.auth.login import LoginRefused, normalise_email
from danbao.auth.sessions import end_session, issue_api_token
from danbao.authz.enforcer import TenantEnforcer
from danbao.db.models import ApiToken, User
from danbao.definitions import BundleInvalid, validate_bundle_dict
from danbao.definitions.versions import (
    VersionNotFound,
    diff_versions,
    get_version,
    list_versions,
    publish,
)
from danbao.records.scope_explain import ScopeVerdict, explain_record
from danbao.web import (
    approvals_api,
    approvals_bulk_api,
    attachments_api,
    callbacks_api,
    checks_api,
    counter_api,
    default_api,
    documents_api,
    form_editor,
    loan_api,
    migrations_api,
    notifications_api,
    plugins_api,
    projects_api,
    proxies_api,
    records_api,
    records_export,
    signing_api,
    tickets_api,
    timeline_api,
    users_api,
    workflow_migrations_api,
)
from danbao.web.errors import HttpError, error_response
from danbao.web.guards import read_json, require
from danbao.web.openapi import openapi_response
from danbao.web.signin import refusal, set_session_cookie, sign_in_with_password
from danbao.web.tenant_endpoint import (
    SESSION_COOKIE,
    caller_of,
    cookie_path,
    services_of,
    tenant_endpoint,
)


async def user_json(request: Request, user: User) -> dict[str, Any]:
    tenant = caller_of(request).tenant
    active = await services_of(request).bundles.current()
    names = {r["id"]: r["name"] for r in active[1].permissions["roles"]} if active else {}
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "department": user.department,
        "roles": [{"id": r, "name": names.get(r, {"zh-CN": r})} for r in user.roles],
        "tenant": {"slug": tenant.slug, "name": tenant.name},
    }


@tenant_endpoint(login_required=False)
async def create_session(request: Request) -> Response:
    """
    summary: Sign in with e-mail and password; sets the session cookie
    tags: [session]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [email, password]
            properties: {email: {type: string}, password: {type: string}}
    responses:
      200: {description: Signed in; the body carries the user and the CSRF token}
      401: {description: Wrong e-mail or password}
      423: {description: Account locked after repeated failures}
      429: {description: Too many attempts from this address}
    """
    body = await read_json(request)
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) for k in ("email", "password")
    ):
        raise HttpError(400, "bad_request", params={"detail": "expected {email, password}"})
    try:
        user, token, session = await sign_in_with_password(request, body["email"], body["password"])
    except LoginRefused as refused:
        return error_response(request, refusal(refused))
    response = JSONResponse(
        {"user": await user_json(request, user), "csrf_token": session.csrf_token}
    )
    set_session_cookie(request, response, token)
    return response


@tenant_endpoint()
async def delete_session(request: Request) -> Response:
    """
    summary: Sign out (requires the X-CSRF-Token header)
    tags: [session]
    responses:
      204: {description: Signed out}
    """
    auth = caller_of(request).auth
    if auth is not None and auth.session is not None:
        await end_session(auth.session)
        await record_event("auth.logout", "user", str(auth.user.id))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path=cookie_path(request))
    return response


@tenant_endpoint()
async def me(request: Request) -> Response:
    """
    summary: The signed-in user, their roles and tenant
    tags: [session]
    responses:
      200: {description: The user}
      401: {description: Not signed in}
    """
    caller = caller_of(request)
    body = await user_json(request, caller.user)
    if caller.auth is not None and caller.auth.session is not None:
        body["csrf_token"] = caller.auth.session.csrf_token
    return JSONResponse(body)


@tenant_endpoint()
async def versions_index(request: Request) -> Response:
    """
    summary: Published definition versions, oldest first
    tags: [definitions]
    responses:
      200: {description: The versions}
      403: {description: Not allowed (needs admin:definitions read)}
    """
    await require(request, "admin:definitions", "read")
    return JSONResponse(
        {
            "versions": [
                {
                    "number": v.number,
                    "content_hash": v.content_hash,
                    "published_at": v.published_at.isoformat(),
                    "published_by": v.published_by,
                    "note": v.note,
                }
                for v in await list_versions()
            ]
        }
    )


@tenant_endpoint()
async def versions_publish(request: Request) -> Response:
    """
    summary: Publish a bundle (file path → content) as the next version, all or nothing
    tags: [definitions]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              files: {type: object, description: "{'tenant.json': {...}, 'forms/x.json': {...}}"}
              note: {type: string}
    responses:
      201: {description: Published; the body has the new number}
      200: {description: Identical to the latest version; nothing published}
      422: {description: "Invalid; details list {file, pointer, message}"}
    """
    await require(request, "admin:definitions", "publish")
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("files"), dict):
        raise HttpError(400, "bad_request", params={"detail": "expected {files: {...}}"})
    try:
        bundle = validate_bundle_dict(body["files"])
    except BundleInvalid as invalid:
        details = [
            {"file": e.file, "pointer": e.pointer, "message": e.message} for e in invalid.errors
        ]
        raise HttpError(
            422, "bad_request", params={"detail": "invalid definitions"}, details=details
        ) from invalid
    version, created = await publish(bundle, note=str(body.get("note", "")))
    return JSONResponse(
        {"number": version.number, "content_hash": version.content_hash, "created": created},
        status_code=201 if created else 200,
    )


def _int_param(request: Request, name: str, value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": f"{name} must be a number"}) from exc


@tenant_endpoint()
async def version_show(request: Request) -> Response:
    """
    summary: One published version with its whole bundle
    tags: [definitions]
    responses:
      200: {description: The version}
      404: {description: No such version}
    """
    await require(request, "admin:definitions", "read")
    number = _int_param(request, "number", request.path_params["number"])
    try:
        version = await get_version(number)
    except VersionNotFound as exc:
        raise HttpError(404, "not_found") from exc
    return JSONResponse(
        {"number": version.number, "content_hash": version.content_hash, "files": version.bundle}
    )


@tenant_endpoint()
async def versions_diff(request: Request) -> Response:
    """
    summary: What changed between two versions (?from=1&to=2)
    tags: [definitions]
    responses:
      200: {description: The changes}
      404: {description: A version does not exist}
    """
    await require(request, "admin:definitions", "read")
    old = _int_param(request, "from", request.query_params.get("from"))
    new = _int_param(request, "to", request.query_params.get("to"))
    try:
        changes = await diff_versions(old, new)
    except VersionNotFound as exc:
        raise HttpError(404, "not_found") from exc
    return JSONResponse(
        {
            "from": old,
            "to": new,
            "changes": [
                {"file": c.file, "op": c.op, "pointer": c.pointer, "old": c.old, "new": c.new}
                for c in changes
            ],
        }
    )


@tenant_endpoint()
async def tokens_index(request: Request) -> Response:
    """
    summary: The caller's API tokens (never their secrets)
    tags: [tokens]
    responses:
      200: {description: The tokens}
    """
    user = caller_of(request).user
    tokens = await ApiToken.filter(user_id=user.id, revoked_at=None).order_by("created_at")
    return JSONResponse({"tokens": [_token_json(t) for t in tokens]})


def _token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


@tenant_endpoint()
async def tokens_create(request: Request) -> Response:
    """
    summary: Issue an API token for the caller; the secret is shown once
    tags: [tokens]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [name]
            properties: {name: {type: string}, days: {type: integer, minimum: 1}}
    responses:
      201: {description: The token and its secret}
    """
    user = await require(request, "admin:api_tokens", "create")
    body = await read_json(request)
    name = body.get("name") if isinstance(body, dict) else None
    days = body.get("days") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise HttpError(400, "bad_request", params={"detail": "name: 1-100 characters"})
    if days is not None and (not isinstance(days, int) or days < 1):
        raise HttpError(400, "bad_request", params={"detail": "days: a positive integer"})
    token, secret = await issue_api_token(user, name.strip(), days=days)
    await record_event("api_token.created", "api_token", str(token.id), {"name": token.name})
    return JSONResponse({**_token_json(token), "secret": secret}, status_code=201)


@tenant_endpoint()
async def tokens_revoke(request: Request) -> Response:
    """
    summary: Revoke one of the caller's API tokens
    tags: [tokens]
    responses:
      204: {description: Revoked}
      404: {description: No such token of the caller}
    """
    user = caller_of(request).user
    updated = await ApiToken.filter(
        id=_uuid_param(request.path_params["token_id"]), user_id=user.id, revoked_at=None
    ).update(revoked_at=datetime.now(UTC))
    if not updated:
        raise HttpError(404, "not_found")
    await record_event("api_token.revoked", "api_token", request.path_params["token_id"])
    return Response(status_code=204)


def _uuid_param(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc


@tenant_endpoint()
async def authz_explain(request: Request) -> Response:
    """
    summary: Why a user may or may not do an action on a resource (?user=e-mail&resource=&action=)
    tags: [authz]
    parameters:
      - {name: user, in: query, schema: {type: string}, description: the user's e-mail}
      - {name: resource, in: query, schema: {type: string}}
      - {name: action, in: query, schema: {type: string}}
      - name: record
        in: query
        schema: {type: string, format: uuid}
        description: >-
          a record of form:<id>; the answer then says whether it is in the user's
          data scope and which scope or condition decided
    responses:
      200: {description: "The decision, the role and policy line that decided, its JSON pointer"}
      400: {description: record given with a resource that is not form:<id>}
      404: {description: No such user (or record) in this tenant}
    """
    await require(request, "admin:users", "read")
    params = request.query_params
    resource, action = params.get("resource", ""), params.get("action", "")
    if not resource or not action:
        raise HttpError(400, "bad_request", params={"detail": "resource and action are required"})
    subject = await User.filter(email=normalise_email(params.get("user", ""))).first()
    active = await services_of(request).enforcer()
    if subject is None or active is None:
        raise HttpError(404, "not_found")
    decision = active[2].explain(subject.roles, resource, action)
    verdict = await _record_verdict(request, active[2], subject, resource)
    return JSONResponse(
        {
            "user": subject.email,
            "resource": resource,
            "action": action,
            "allowed": decision.allowed,
            "role": decision.role,
            "policy": list(decision.policy) if decision.policy else None,
            "pointer": f"permissions.json#{decision.pointer}" if decision.pointer else None,
            "reason": decision.reason,
            "effective_roles": sorted(decision.effective_roles),
            "definitions_version": active[0],
            **({"record": verdict_json(verdict)} if verdict is not None else {}),
        }
    )


async def _record_verdict(
    request: Request, enforcer: TenantEnforcer, subject: User, resource: str
) -> ScopeVerdict | None:
    """With ``?record=<id>``: whether that record of ``form:<id>`` is in the subject's scope."""
    raw = request.query_params.get("record", "").strip()
    if not raw:
        return None
    kind, _, form_id = resource.partition(":")
    if kind != "form" or not form_id or form_id == "*":
        detail = "record needs a resource form:<id>"
        raise HttpError(400, "bad_request", params={"detail": detail})
    verdict = await explain_record(enforcer, subject, form_id, _record_id(raw))
    if verdict is None:
        raise HttpError(404, "not_found")
    return verdict


def _record_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc


def verdict_json(verdict: ScopeVerdict) -> dict[str, Any]:
    def where(pointer: str | None) -> str | None:
        return f"permissions.json#{pointer}" if pointer else None

    deciding = verdict.deciding
    return {
        "id": verdict.record_id,
        "in_scope": verdict.in_scope,
        "role": deciding.role if deciding else None,
        "scope": where(deciding.pointer) if deciding else None,
        "condition": deciding.condition if deciding else None,
        "condition_pointer": where(deciding.condition_pointer) if deciding else None,
        "reason": verdict.reason,
        "parts": [
            {
                "role": p.role,
                "kind": p.kind,
                "pointer": where(p.pointer),
                "condition": p.condition,
                "condition_pointer": where(p.condition_pointer),
                "kind_holds": p.kind_holds,
                "condition_holds": p.condition_holds,
            }
            for p in verdict.parts
        ],
    }


@tenant_endpoint(login_required=False)
async def openapi(request: Request) -> Response:
    """
    summary: This document
    tags: [meta]
    responses:
      200: {description: OpenAPI 3.1}
    """
    return openapi_response(request, ROUTES)


ROUTES = [
    Route("/session", create_session, methods=["POST"]),
    Route("/session", delete_session, methods=["DELETE"]),
    Route("/me", me, methods=["GET"]),
    Route("/definitions/versions", versions_index, methods=["GET"]),
    Route("/definitions/versions", versions_publish, methods=["POST"]),
    Route("/definitions/versions/{number}", version_show, methods=["GET"]),
    Route("/definitions/diff", versions_diff, methods=["GET"]),
    *form_editor.API_ROUTES,
    Route("/tokens", tokens_index, methods=["GET"]),
    Route("/tokens", tokens_create, methods=["POST"]),
    Route("/tokens/{token_id}", tokens_revoke, methods=["DELETE"]),
    Route("/authz/explain", authz_explain, methods=["GET"]),
    *records_export.ROUTES,  # before records_api: its {record_id} would take export.csv
    *checks_api.ROUTES,
    *signing_api.ROUTES,
    *documents_api.ROUTES,
    *records_api.ROUTES,
    *migrations_api.ROUTES,
    # Before approvals_api: its /approvals/{instance_id} would take these paths.
    *approvals_bulk_api.ROUTES,
    *proxies_api.ROUTES,
    *approvals_api.ROUTES,
    *workflow_migrations_api.ROUTES,
    *notifications_api.ROUTES,
    *users_api.ROUTES,
    *plugins_api.ROUTES,
    *callbacks_api.ROUTES,
    *attachments_api.ROUTES,
    *default_api.ROUTES,  # before projects_api: /projects/totals
    *projects_api.ROUTES,
    *tickets_api.ROUTES,
    *counter_api.ROUTES,
    *loan_api.ROUTES,
    *timeline_api.ROUTES,
    Route("/openapi.json", openapi, methods=["GET"]),
]
