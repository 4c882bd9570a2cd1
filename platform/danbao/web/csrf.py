"""CSRF for cookie sessions: an unsafe request must carry the session's token, in the
``X-CSRF-Token`` header (scripts, and every multipart upload) or the ``csrf_token`` form
field (url-encoded page forms)."""

from __future__ import annotations

from starlette.requests import Request

from danbao.auth.secrets import same
from danbao.web.errors import HttpError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Only small url-encoded forms are read for the token. A multipart body may be a large
# upload: reading it here would spool it whole before the upload's own limits apply, so
# multipart requests carry the token in the header.
_FORM_TYPES = ("application/x-www-form-urlencoded",)


async def check_csrf(request: Request, expected: str) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        sent = str((await request.form()).get("csrf_token") or "")
    if not sent or not same(sent, expected):
        raise HttpError(403, "csrf")


async def check_login_csrf(request: Request, cookie_name: str) -> None:
    """Before there is a session: the sign-in form's token must match its cookie (double
    submit), so another site cannot sign a browser in to an account of its choosing."""
    cookie = request.cookies.get(cookie_name, "")
    sent = str((await request.form()).get("csrf_token", ""))
    if not cookie or not same(cookie, sent):
        raise HttpError(403, "csrf")
