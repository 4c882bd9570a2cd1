"""Wrapping every ``/t/{slug}/…`` endpoint: tenant, transaction, caller, CSRF.

The order matters. The tenant is resolved and put in context first, then the
transaction begins (on PostgreSQL its first statement hands the tenant to row-level
security), then the caller is authenticated inside it. A refusal raised by the handler
rolls the whole transaction back, so nothing is half-written.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.auth.sessions import Authenticated, from_api_token, from_session_token
from danbao.crypto.fields import DecryptError
from danbao.services import Services
from danbao.tenancy.context import Principal, TenantContext, set_principal, tenant_scope
from danbao.tenancy.registry import TenantInfo
from danbao.web.csrf import check_csrf
from danbao.web.errors import AuditNote, HttpError, error_response

SESSION_COOKIE = "danbao_session"
LOGIN_CSRF_COOKIE = "danbao_login_csrf"

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Caller:
    """The tenant and the authenticated user (if any) of the current request."""

    tenant: TenantInfo
    auth: Authenticated | None

    @property
    def user(self):  # type: ignore[no-untyped-def]
        if self.auth is None:
            raise HttpError(401, "unauthenticated")
        return self.auth.user


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def caller_of(request: Request) -> Caller:
    caller: Caller = request.state.caller
    return caller


def cookie_path(request: Request) -> str:
    """Cookies of a tenant are scoped to its path, so tenants on one host never mix.

    A tenant served on its own host name owns the whole host, so its cookies take "/".
    """
    if request.scope.get("state", {}).get("tenant_by_host"):
        return "/"
    return f"/t/{request.path_params['slug']}/"


def cookie_secure(request: Request) -> bool:
    configured = services_of(request).settings.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


async def _authenticate(request: Request) -> Authenticated | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        found = await from_api_token(header[7:].strip())
        if found is None:
            raise HttpError(401, "unauthenticated", headers={"WWW-Authenticate": "Bearer"})
        return found
    token = request.cookies.get(SESSION_COOKIE)
    return await from_session_token(token) if token else None


def tenant_endpoint(
    *, login_required: bool = True, authenticate: bool = True
) -> Callable[[Handler], Handler]:
    """``authenticate=False``: a public page that never reads a session or token, so it
    acts with no one's authority and needs no CSRF token (the verification page)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            services = services_of(request)
            tenant = await services.registry.by_slug(request.path_params["slug"])
            if tenant is None:
                return error_response(request, HttpError(404, "not_found"))
            request.state.tenant_slug = tenant.slug
            if not tenant.is_active:
                return error_response(request, HttpError(403, "suspended"))
            with tenant_scope(TenantContext(tenant.id, tenant.slug)):
                try:
                    async with in_transaction():
                        auth = await _authenticate(request) if authenticate else None
                        if auth is not None:
                            user = auth.user
                            set_principal(Principal("user", str(user.id), user.name))
                            if auth.session is not None:  # bearer tokens are not ambient: no CSRF
                                await check_csrf(request, auth.session.csrf_token)
                        elif login_required:
                            raise HttpError(401, "unauthenticated")
                        request.state.caller = Caller(tenant, auth)
                        return await handler(request)
                except DecryptError as broken:
                    # A stored value that will not decrypt was altered or moved: say so
                    # plainly, record it, and never show the envelope.
                    note = AuditNote(
                        "record.integrity_failed", "record", "-", {"detail": str(broken)}
                    )
                    refusal = HttpError(500, "integrity", audit=note)
                    async with in_transaction():
                        await record_event(note.action, note.object_type, note.object_id, note.data)
                    return error_response(request, refusal)
                except HttpError as refusal:
                    if refusal.audit is not None:
                        # The request's transaction rolled back; the refusal itself stays on record.
                        note = refusal.audit
                        async with in_transaction():
                            await record_event(
                                note.action, note.object_type, note.object_id, note.data
                            )
                    return error_response(request, refusal)

        return endpoint

    return decorate
