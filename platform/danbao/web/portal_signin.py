"""Signing an applicant in to the portal with a one-time code (docs/portal.md).

``GET/POST /portal/login``: the mobile number or e-mail address; the code goes out through
the tenant's messaging plug-in after the commit, and the next page asks for it (printing
it too, in the embedded demo with a sandbox channel only). ``POST /portal/login/verify``:
the code; a session of the portal's own. Both forms carry a double-submit CSRF token, so
another site can neither request codes in a visitor's name nor sign them in.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from danbao.audit import record_event
from danbao.auth.secrets import new_token
from danbao.i18n import translate
from danbao.portal import channel, codes, identity, sessions
from danbao.web.csrf import check_login_csrf
from danbao.web.errors import locale_of
from danbao.web.portal_endpoint import (
    PORTAL_COOKIE,
    PORTAL_LOGIN_CSRF,
    portal_base,
    portal_endpoint,
    portal_path,
    set_portal_cookie,
    visitor_of,
)
from danbao.web.templates import render
from danbao.web.tenant_endpoint import cookie_secure, services_of

# Failed code entries per client address within the staff throttle's window (5 minutes).
MAX_FAILURES_PER_ADDRESS = 30


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


def _message(request: Request, code: str, **params: Any) -> str:
    return translate(locale_of(request), f"error.{code}", **params)


def _page(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    csrf = request.cookies.get(PORTAL_LOGIN_CSRF) or new_token(24)
    response = render(
        request,
        name,
        {
            "tenant": visitor_of(request).tenant,
            "portal": portal_base(request),
            "csrf": csrf,
            **context,
        },
        status_code=status,
    )
    response.set_cookie(
        PORTAL_LOGIN_CSRF,
        csrf,
        path=portal_path(request),
        httponly=True,
        secure=cookie_secure(request),
        samesite="strict",
    )
    return response


@portal_endpoint(login_required=False, authenticate=False)
async def login(request: Request) -> Response:
    if request.method == "GET":
        return _page(request, "portal/login.html", {})
    await check_login_csrf(request, PORTAL_LOGIN_CSRF)
    raw = str((await request.form()).get("destination", ""))[:254]
    try:
        destination = identity.parse_destination(raw)
    except identity.BadDestination:
        error = _message(request, "portal_bad_destination")
        return _page(request, "portal/login.html", {"error": error, "given": raw}, status=422)
    plugin_id = await channel.channel_for(destination)
    if plugin_id is None:
        error = _message(request, "portal_no_channel")
        return _page(request, "portal/login.html", {"error": error, "given": raw}, status=503)
    services = services_of(request)
    digest = await identity.destination_hash(services.keys, destination)
    sealed = await identity.seal(services.keys, destination)
    try:
        issued = await codes.issue(
            services.keys, destination, digest, sealed, client=_client(request)
        )
    except codes.CodeRefused as refused:
        # Answered, not raised: the throttle's audit event commits with the answer.
        seconds = refused.retry_after or 60
        error = _message(request, "portal_throttled", minutes=max(1, seconds // 60))
        response = _page(request, "portal/login.html", {"error": error, "given": raw}, status=429)
        response.headers["Retry-After"] = str(seconds)
        return response
    locale = locale_of(request)
    tenant = visitor_of(request).tenant
    title = translate(locale, "portal.code.title", tenant=tenant.name)
    text = translate(
        locale,
        "portal.code.text",
        tenant=tenant.name,
        code=issued.code,
        minutes=int(codes.CODE_TTL.total_seconds() // 60),
    )
    response = _page(
        request,
        "portal/code.html",
        {
            "challenge": str(issued.row.id),
            "masked": destination.masked,
            "demo_code": issued.code if channel.shows_code(services.settings, plugin_id) else None,
        },
    )
    response.background = channel.send_later(services.plugins, plugin_id, destination, title, text)
    return response


@portal_endpoint(login_required=False, authenticate=False)
async def verify(request: Request) -> Response:
    await check_login_csrf(request, PORTAL_LOGIN_CSRF)
    form = await request.form()
    challenge = str(form.get("challenge", ""))[:64]
    services = services_of(request)
    throttle_key = f"portal:{_client(request)}"
    try:
        if await services.throttle.count(throttle_key) >= MAX_FAILURES_PER_ADDRESS:
            raise codes.CodeRefused("throttled", 300)
        row = await codes.redeem(services.keys, challenge, str(form.get("code", ""))[:16])
    except codes.CodeRefused as refused:
        if refused.code != "throttled":
            await services.throttle.hit(throttle_key)
        code = "portal_throttled" if refused.code == "throttled" else f"portal_{refused.code}"
        status = {"throttled": 429, "code_invalid": 401}.get(refused.code, 410)
        context = {
            "challenge": challenge,
            "error": _message(request, code, minutes=5),
            "restart": refused.code != "code_invalid",
        }
        return _page(request, "portal/code.html", context, status=status)
    destination = await identity.unseal(services.keys, row.destination_sealed)
    applicant = await identity.applicant_for(
        services.keys, destination, row.destination_hash, row.destination_sealed
    )
    token, _ = await sessions.start(
        applicant, ip=_client(request), user_agent=request.headers.get("user-agent")
    )
    await record_event(
        "portal.sign_in",
        "applicant",
        str(applicant.id),
        {"channel": destination.channel, "destination": destination.masked},
    )
    response = RedirectResponse(portal_base(request) + "/", status_code=303)
    set_portal_cookie(request, response, token)
    response.delete_cookie(PORTAL_LOGIN_CSRF, path=portal_path(request))
    return response


@portal_endpoint()
async def logout(request: Request) -> Response:
    visitor = visitor_of(request)
    if visitor.session is not None:
        await sessions.end(visitor.session)
        await record_event("portal.sign_out", "applicant", str(visitor.signed_in.id))
    response = RedirectResponse(portal_base(request) + "/login", status_code=303)
    response.delete_cookie(PORTAL_COOKIE, path=portal_path(request))
    return response
