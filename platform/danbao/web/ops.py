"""The operator console under ``/ops``: sign in, every tenant's health and usage, create,
suspend and resume tenants.

Operators see counts, never records: no record contents, no user lists, no audit event
contents. Tenant actions go through :mod:`danbao.provisioning`, which audits them in the
tenant's own chain under the operator's e-mail.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from danbao.auth.login import LoginRefused, check_email
from danbao.auth.operators import end_operator_session, operator_sign_in, start_operator_session
from danbao.auth.passwords import MIN_LENGTH, WeakPassword, check_strength
from danbao.auth.secrets import new_token
from danbao.db.models import Tenant
from danbao.definitions import BundleInvalid
from danbao.i18n import translate
from danbao.key_rotation import rotate_data_key
from danbao.provisioning import ProvisioningError, TenantExists, TenantNotFound, create_tenant
from danbao.provisioning import set_status as set_tenant_status
from danbao.tenancy.registry import RESERVED_SLUGS, SLUG_RE, InvalidSlug, check_slug
from danbao.usage import tenant_usage
from danbao.web.csrf import check_login_csrf
from danbao.web.errors import HttpError, locale_of
from danbao.web.health import collect_health
from danbao.web.ops_endpoint import (
    OPS_LOGIN_CSRF_COOKIE,
    OPS_PATH,
    OPS_SESSION_COOKIE,
    client_of,
    ops_endpoint,
    set_ops_cookie,
    signed_in_of,
)
from danbao.web.templates import render
from danbao.web.tenant_endpoint import services_of

PAGE_SIZE = 50
NOTICES = frozenset({"created", "suspended", "resumed", "key_rotated"})
_REFUSAL_STATUS = {"locked": 423, "throttled": 429}


def _t(request: Request, key: str, **params: object) -> str:
    return translate(locale_of(request), key, **params)


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    # Login CSRF: a random value in a cookie and in the form must match (double submit).
    csrf = request.cookies.get(OPS_LOGIN_CSRF_COOKIE) or new_token(24)
    response = render(request, "ops/login.html", {"csrf": csrf, "error": error}, status_code=status)
    set_ops_cookie(request, response, OPS_LOGIN_CSRF_COOKIE, csrf)
    return response


@ops_endpoint(public=True)
async def login(request: Request) -> Response:
    if request.method == "GET":
        if request.state.operator is not None:
            return RedirectResponse(f"{OPS_PATH}/", status_code=303)
        return _login_page(request)
    await check_login_csrf(request, OPS_LOGIN_CSRF_COOKIE)
    form = await request.form()
    services = services_of(request)
    # One transaction that commits even on refusal: failure counts and lockouts stick.
    async with in_transaction():
        try:
            operator = await operator_sign_in(
                str(form.get("email", "")),
                str(form.get("password", "")),
                client=client_of(request),
                policy=services.login_policy,
                throttle=services.throttle,
            )
            token = await start_operator_session(operator, hours=services.settings.session_hours)
        except LoginRefused as refused:
            minutes = max(1, (refused.retry_after or 0) // 60)
            message = _t(request, f"error.{refused.code}", minutes=minutes)
            return _login_page(request, message, status=_REFUSAL_STATUS.get(refused.code, 401))
    response = RedirectResponse(f"{OPS_PATH}/", status_code=303)
    set_ops_cookie(request, response, OPS_SESSION_COOKIE, token)
    response.delete_cookie(OPS_LOGIN_CSRF_COOKIE, path=OPS_PATH)
    return response


@ops_endpoint()
async def logout(request: Request) -> Response:
    async with in_transaction():
        await end_operator_session(signed_in_of(request))
    response = RedirectResponse(f"{OPS_PATH}/login", status_code=303)
    response.delete_cookie(OPS_SESSION_COOKIE, path=OPS_PATH)
    return response


def _human_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, unit = float(size) / 1024, "KB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or "1"))
    except ValueError:
        return 1


async def _tenant_rows(request: Request, q: str, page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of tenants with their usage, and how many tenants match in all."""
    async with in_transaction():  # global table, no tenant in context
        query = Tenant.all()
        if q:
            query = query.filter(Q(slug__icontains=q) | Q(name__icontains=q))
        total = await query.count()
        tenants = await query.order_by("slug").offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    operator = signed_in_of(request).operator.email
    rows = []
    # Outside the transaction above: each tenant is counted in a transaction of its own.
    for tenant in tenants:
        usage = await tenant_usage(tenant, operator=operator)
        rows.append(
            {
                "slug": tenant.slug,
                "name": tenant.name,
                "status": tenant.status,
                "suspended_reason": tenant.suspended_reason,
                "plan": tenant.plan,
                "created": f"{tenant.created_at:%Y-%m-%d}",
                "usage": usage,
                "file_size": _human_bytes(usage.file_bytes),
            }
        )
    return rows, total


def _dashboard_url(q: str, page: int) -> str:
    params = {k: v for k, v in (("q", q), ("page", str(page))) if v and v != "1"}
    return f"{OPS_PATH}/" + (f"?{urlencode(params)}" if params else "")


@ops_endpoint()
async def dashboard(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:100]
    page = _page_number(request.query_params.get("page"))
    rows, total = await _tenant_rows(request, q, page)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    notice, slug = request.query_params.get("notice"), request.query_params.get("slug", "")
    signed_in = signed_in_of(request)
    return render(
        request,
        "ops/dashboard.html",
        {
            "operator": signed_in.operator,
            "csrf": signed_in.session.csrf_token,
            "rows": rows,
            "q": q,
            "page": page,
            "pages": pages,
            "total": total,
            "prev_url": _dashboard_url(q, page - 1) if page > 1 else None,
            "next_url": _dashboard_url(q, page + 1) if page < pages else None,
            "notice": _t(request, f"ops.notice.{notice}", slug=slug)
            if notice in NOTICES and SLUG_RE.match(slug)
            else None,
            "health": await collect_health(services_of(request)),
        },
    )


def _new_tenant_page(
    request: Request,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    signed_in = signed_in_of(request)
    return render(
        request,
        "ops/new_tenant.html",
        {
            "operator": signed_in.operator,
            "csrf": signed_in.session.csrf_token,
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status,
    )


@ops_endpoint()
async def new_tenant(request: Request) -> Response:
    return _new_tenant_page(request)


def _check_new_tenant(request: Request, values: dict[str, str], password: str) -> dict[str, str]:
    """Field → message for everything wrong with the form, all at once."""
    errors: dict[str, str] = {}
    try:
        check_slug(values["slug"])
    except InvalidSlug:
        reserved = values["slug"] in RESERVED_SLUGS
        errors["slug"] = _t(request, "ops.error.slug_reserved" if reserved else "ops.error.slug")
    if len(values["name"]) > 200:
        errors["name"] = _t(request, "ops.error.name")
    try:
        check_email(values["admin_email"])
    except ValueError:
        errors["admin_email"] = _t(request, "ops.error.email")
    try:
        check_strength(password)
    except WeakPassword:
        errors["admin_password"] = _t(request, "ops.error.password", min=MIN_LENGTH)
    return errors


@ops_endpoint()
async def create(request: Request) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("slug", "name", "admin_email")}
    password = str(form.get("admin_password", ""))
    errors = _check_new_tenant(request, values, password)
    services = services_of(request)
    if not errors:
        try:
            await create_tenant(
                values["slug"],
                services.settings.tenants_dir / "_template",
                admin_email=values["admin_email"],
                admin_password=password,
                operator=signed_in_of(request).operator.email,
                name=values["name"] or None,
            )
        except (TenantExists, IntegrityError):  # IntegrityError: another operator was faster
            errors["slug"] = _t(request, "ops.error.slug_taken")
        except (ProvisioningError, BundleInvalid, ValueError) as exc:
            errors["form"] = _t(request, "ops.error.create_failed", detail=str(exc))
    if errors:
        return _new_tenant_page(request, values, errors, status=422)
    services.registry.forget(values["slug"])  # it may have been cached as unknown
    query = urlencode({"q": values["slug"], "notice": "created", "slug": values["slug"]})
    return RedirectResponse(f"{OPS_PATH}/?{query}", status_code=303)


async def _set_status(request: Request, *, suspend: bool) -> Response:
    slug = request.path_params["slug"]
    reason = str((await request.form()).get("reason", "")).strip()[:500] if suspend else ""
    try:
        tenant = await set_tenant_status(
            slug, suspend=suspend, operator=signed_in_of(request).operator.email, reason=reason
        )
    except TenantNotFound as exc:
        raise HttpError(404, "not_found") from exc
    # Every process (this one included) drops the tenant's cached entries at once.
    await services_of(request).propagation.publish(str(tenant.id), 0)
    notice = "suspended" if suspend else "resumed"
    query = urlencode({"q": slug, "notice": notice, "slug": slug})
    return RedirectResponse(f"{OPS_PATH}/?{query}", status_code=303)


@ops_endpoint()
async def suspend(request: Request) -> Response:
    return await _set_status(request, suspend=True)


@ops_endpoint()
async def resume(request: Request) -> Response:
    return await _set_status(request, suspend=False)


@ops_endpoint()
async def rotate_key(request: Request) -> Response:
    """A new data-key version for the tenant; its records are re-encrypted by a job."""
    slug = request.path_params["slug"]
    services = services_of(request)
    try:
        rotation = await rotate_data_key(
            slug, services.keys, services.queue, operator=signed_in_of(request).operator.email
        )
    except TenantNotFound as exc:
        raise HttpError(404, "not_found") from exc
    # Every process drops the tenant's cached current key version, so all write under the new.
    await services.propagation.publish(rotation.tenant_id, 0)
    query = urlencode(
        {"q": slug, "notice": "key_rotated", "slug": slug, "version": rotation.version}
    )
    return RedirectResponse(f"{OPS_PATH}/?{query}", status_code=303)


ROUTES = [
    Route("/", dashboard, methods=["GET"]),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/tenants/new", new_tenant, methods=["GET"]),
    Route("/tenants", create, methods=["POST"]),
    Route("/tenants/{slug}/suspend", suspend, methods=["POST"]),
    Route("/tenants/{slug}/resume", resume, methods=["POST"]),
    Route("/tenants/{slug}/rotate-key", rotate_key, methods=["POST"]),
]
