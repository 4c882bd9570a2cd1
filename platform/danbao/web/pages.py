"""Staff pages under ``/t/{slug}/``: sign in, home, sign out; the records pages of
forms live in ``form_pages``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.auth.login import LoginRefused
from danbao.auth.secrets import new_token
from danbao.auth.sessions import end_session
from danbao.db.models import User
from danbao.i18n import translate
from danbao.web import (
    admin_pages,
    approval_pages,
    autosave,
    check_pages,
    document_pages,
    form_editor,
    form_pages,
    inforce_pages,
    migration_pages,
    plugin_pages,
    project_pages,
    simulator_page,
    ticket_pages,
    verify_pages,
    workflow_migration_pages,
)
from danbao.web.csrf import check_login_csrf
from danbao.web.errors import locale_of
from danbao.web.signin import refusal, set_session_cookie, sign_in_with_password
from danbao.web.templates import render
from danbao.web.tenant_endpoint import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    caller_of,
    cookie_path,
    cookie_secure,
    services_of,
    tenant_endpoint,
)


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    # Login CSRF: a random value in a cookie and in the form must match (double submit).
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token(24)
    response = render(
        request,
        "login.html",
        {"tenant": caller_of(request).tenant, "csrf": csrf, "error": error, "base": _base(request)},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        path=cookie_path(request),
        httponly=True,
        secure=cookie_secure(request),
        samesite="strict",
    )
    return response


@tenant_endpoint(login_required=False)
async def login(request: Request) -> Response:
    if request.method == "GET":
        return _login_page(request)
    await check_login_csrf(request, LOGIN_CSRF_COOKIE)
    form = await request.form()
    try:
        _, token, _ = await sign_in_with_password(
            request, str(form.get("email", "")), str(form.get("password", ""))
        )
    except LoginRefused as refused:
        error = refusal(refused)
        message = translate(locale_of(request), f"error.{error.code}", **error.params)
        return _login_page(request, message, status=error.status)
    response = RedirectResponse(_base(request) + "/", status_code=303)
    set_session_cookie(request, response, token)
    return response


@tenant_endpoint(login_required=False)
async def home(request: Request) -> Response:
    caller = caller_of(request)
    if caller.auth is None:
        return RedirectResponse(_base(request) + "/login", status_code=303)
    active = await services_of(request).bundles.current()
    return render(
        request,
        "home.html",
        {
            "tenant": caller.tenant,
            "user": caller.user,
            "csrf": caller.auth.session.csrf_token if caller.auth.session else "",
            "version": active[0] if active else None,
            "bundle": active[1] if active else None,
            "base": _base(request),
            "form_links": await form_pages.form_links(request, caller.user),
            "admin_links": await admin_pages.admin_links(request, caller.user),
            "inbox_url": _base(request) + "/inbox",
            "inbox_count": await approval_pages.open_task_count(caller.user),
            "work_links": await _work_links(request, caller.user),
        },
    )


async def _work_links(request: Request, user: User) -> list[tuple[str, str]]:
    """The business pages the caller may open: projects, service tickets."""
    active = await services_of(request).enforcer()
    if active is None:
        return []
    enforcer, base = active[2], _base(request)
    links = [("projects.title", f"{base}/projects", "project:*")]
    links.append(("tickets.title", f"{base}/tickets", "ticket:*"))
    return [
        (key, url) for key, url, resource in links if enforcer.allowed(user.roles, resource, "read")
    ]


@tenant_endpoint()
async def logout(request: Request) -> Response:
    auth = caller_of(request).auth
    if auth is not None and auth.session is not None:
        await end_session(auth.session)
        await record_event("auth.logout", "user", str(auth.user.id))
    response = RedirectResponse(_base(request) + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=cookie_path(request))
    return response


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    *check_pages.ROUTES,
    *document_pages.ROUTES,
    *inforce_pages.ROUTES,
    *autosave.ROUTES,
    *form_pages.ROUTES,
    *admin_pages.ROUTES,
    *form_editor.PAGE_ROUTES,
    *migration_pages.ROUTES,
    *plugin_pages.ROUTES,
    *approval_pages.ROUTES,
    *simulator_page.ROUTES,
    *workflow_migration_pages.ROUTES,
    *verify_pages.ROUTES,
    *project_pages.ROUTES,
    *ticket_pages.ROUTES,
]
