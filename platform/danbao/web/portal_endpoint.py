"""Wrapping every ``/t/{slug}/portal/…`` endpoint: the tenant endpoint without its staff
authentication, then the applicant's own session and CSRF check.

``tenant_endpoint(authenticate=False)`` resolves the tenant, opens the transaction and turns
refusals into answers, and never reads the staff cookie or a bearer token, so a staff
session grants nothing here. The portal cookie is scoped to the portal's path and looked up
only in ``applicant_session``, so it reaches no staff route either.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from danbao.db.models import Applicant, ApplicantSession, User
from danbao.portal import sessions
from danbao.tenancy.context import Principal, set_principal
from danbao.tenancy.registry import TenantInfo
from danbao.web.csrf import check_csrf
from danbao.web.errors import HttpError, is_api
from danbao.web.tenant_endpoint import caller_of, cookie_path, cookie_secure, tenant_endpoint

PORTAL_COOKIE = "danbao_portal"
PORTAL_LOGIN_CSRF = "danbao_portal_login_csrf"

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Visitor:
    """The tenant and the signed-in applicant (if any) of a portal request."""

    tenant: TenantInfo
    applicant: Applicant | None
    session: ApplicantSession | None

    @property
    def signed_in(self) -> Applicant:
        if self.applicant is None:
            raise HttpError(401, "unauthenticated")
        return self.applicant

    @property
    def csrf(self) -> str:
        return self.session.csrf_token if self.session else ""

    async def owner(self) -> User:
        """The applicant's record-owner identity (records and uploads are made as it)."""
        owner = await User.filter(id=self.signed_in.user_id).first()
        if owner is None:
            raise HttpError(404, "not_found")
        return owner


def portal_path(request: Request) -> str:
    """``/t/{slug}/portal/`` (or ``/portal/`` on a tenant's own host): the cookie's path."""
    return cookie_path(request) + "portal/"


def portal_base(request: Request) -> str:
    return portal_path(request).rstrip("/")


def visitor_of(request: Request) -> Visitor:
    visitor: Visitor = request.state.visitor
    return visitor


def set_portal_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        PORTAL_COOKIE,
        token,
        max_age=sessions.SESSION_HOURS * 3600,
        path=portal_path(request),
        httponly=True,
        secure=cookie_secure(request),
        samesite="lax",
    )


def portal_endpoint(
    *, login_required: bool = True, authenticate: bool = True
) -> Callable[[Handler], Handler]:
    """``authenticate=False``: the sign-in forms, which read no session (they carry a
    double-submit token of their own) and so never act for a signed-in applicant."""

    def decorate(handler: Handler) -> Handler:
        @tenant_endpoint(login_required=False, authenticate=False)
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            token = request.cookies.get(PORTAL_COOKIE) if authenticate else None
            found = await sessions.from_token(token) if token else None
            applicant, session = found if found else (None, None)
            if applicant is not None and session is not None:
                set_principal(Principal("applicant", str(applicant.id), "applicant"))
                await check_csrf(request, session.csrf_token)
            elif login_required:
                if is_api(request):
                    raise HttpError(401, "unauthenticated")
                return RedirectResponse(portal_base(request) + "/login", status_code=303)
            request.state.visitor = Visitor(caller_of(request).tenant, applicant, session)
            return await handler(request)

        return endpoint

    return decorate
