"""Signing a person in over HTTP: shared by the JSON API and the sign-in page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from danbao.auth.login import LoginRefused, sign_in
from danbao.auth.sessions import start_session
from danbao.db.models import Session, User
from danbao.web.errors import HttpError
from danbao.web.tenant_endpoint import SESSION_COOKIE, cookie_path, cookie_secure, services_of

_STATUS = {"locked": 423, "throttled": 429}


async def sign_in_with_password(
    request: Request, email: str, password: str
) -> tuple[User, str, Session]:
    """The user, the new session's cookie token and row; raises :class:`LoginRefused`."""
    services = services_of(request)
    client = request.client.host if request.client else "-"
    user = await sign_in(
        email, password, client=client, policy=services.login_policy, throttle=services.throttle
    )
    token, session = await start_session(
        user,
        hours=services.settings.session_hours,
        ip=client,
        user_agent=request.headers.get("user-agent"),
    )
    return user, token, session


def refusal(refused: LoginRefused) -> HttpError:
    """The refusal to answer with. Answered, not raised, so the failure count and its
    audit event commit with the response."""
    minutes = max(1, (refused.retry_after or 0) // 60)
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
    return HttpError(
        _STATUS.get(refused.code, 401), refused.code, params={"minutes": minutes}, headers=headers
    )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=services_of(request).settings.session_hours * 3600,
        path=cookie_path(request),
        httponly=True,
        secure=cookie_secure(request),
        samesite="lax",
    )
