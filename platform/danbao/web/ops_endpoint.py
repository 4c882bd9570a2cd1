"""Wrapping every ``/ops/…`` endpoint: operator session, CSRF, and no tenant in context.

Operator pages never pass through ``tenant_endpoint``. The caller is looked up in a short
transaction of its own, with no tenant in context (``operator_session`` is a global
table), and that transaction ends before the handler runs: the handler opens its own,
and per-tenant work enters the tenant's scope *before* its transaction begins, so
row-level security sees that tenant and not the empty setting of an enclosing one.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from tortoise.transactions import in_transaction

from danbao.auth.operators import SignedInOperator, operator_from_token
from danbao.web.csrf import check_csrf
from danbao.web.errors import HttpError, error_response
from danbao.web.tenant_endpoint import cookie_secure, services_of

OPS_PATH = "/ops"
OPS_SESSION_COOKIE = "danbao_ops_session"
OPS_LOGIN_CSRF_COOKIE = "danbao_ops_login_csrf"

Handler = Callable[[Request], Awaitable[Response]]


def signed_in_of(request: Request) -> SignedInOperator:
    """The operator of a request that passed a non-public :func:`ops_endpoint`."""
    signed_in: SignedInOperator = request.state.operator
    return signed_in


def client_of(request: Request) -> str:
    return request.client.host if request.client else "-"


def set_ops_cookie(request: Request, response: Response, name: str, value: str) -> None:
    # Scoped to /ops and strict: a tenant page can neither read nor ride on it.
    max_age = services_of(request).settings.session_hours * 3600
    response.set_cookie(
        name,
        value,
        max_age=max_age if name == OPS_SESSION_COOKIE else None,
        path=OPS_PATH,
        httponly=True,
        secure=cookie_secure(request),
        samesite="strict",
    )


def ops_endpoint(*, public: bool = False) -> Callable[[Handler], Handler]:
    """``public`` endpoints (the sign-in page) see the operator if any and check nothing;
    the others send anonymous callers to the sign-in page and check the session's CSRF
    token on every unsafe request."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            token = request.cookies.get(OPS_SESSION_COOKIE)
            signed_in = None
            if token:
                async with in_transaction():
                    signed_in = await operator_from_token(token)
            request.state.operator = signed_in
            try:
                if not public:
                    if signed_in is None:
                        return RedirectResponse(f"{OPS_PATH}/login", status_code=303)
                    await check_csrf(request, signed_in.session.csrf_token)
                return await handler(request)
            except HttpError as refusal:
                return error_response(request, refusal)

        return endpoint

    return decorate
