"""The public verification page of a guarantee letter: ``/t/{slug}/verify/{token}``.

Anyone holding the letter scans its QR code and lands here, without signing in. The page
never reads a session (``authenticate=False``), so it acts with nobody's authority and a
form post needs no CSRF token. It shows what the letter's ``public`` facts fixed at issue
time (number, guarantor, date, the amount, the lender, the debtor masked) and its status
now; a visitor may post the PDF they hold to compare its SHA-256 with the issued one (the
file is hashed as it arrives and never kept). Tokens are 192 random bits, so they cannot
be guessed; an unknown token is the ordinary 404 page. Every look and every comparison is
an audit event ``document.verified`` naming the document and the outcome, nothing about
the visitor.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.auth.secrets import same
from danbao.db.models import ProjectDocument
from danbao.i18n import translate
from danbao.web.errors import HttpError, locale_of
from danbao.web.templates import render
from danbao.web.tenant_endpoint import tenant_endpoint

MAX_UPLOAD_MB = 20
_CHUNK = 256 * 1024


async def _letter(request: Request) -> ProjectDocument:
    token = request.path_params["token"]
    if not 16 <= len(token) <= 64:
        raise HttpError(404, "not_found")
    row = await ProjectDocument.filter(verify_token=token).first()
    if row is None or row.verify_token is None or not same(row.verify_token, token):
        raise HttpError(404, "not_found")
    return row


async def _uploaded_sha256(request: Request) -> str | None:
    """SHA-256 of the posted file, or None when there is none; 413 past the limit."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise HttpError(411, "bad_request", params={"detail": "Content-Length required"})
    if int(declared) > MAX_UPLOAD_MB * 1024 * 1024:
        message = translate(locale_of(request), "verify.too_large", mb=MAX_UPLOAD_MB)
        raise HttpError(413, "bad_request", params={"detail": message})
    form = await request.form(max_files=1, max_fields=1)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return None
    digest = hashlib.sha256()
    while chunk := await upload.read(_CHUNK):
        digest.update(chunk)
    await upload.close()
    return digest.hexdigest()


@tenant_endpoint(login_required=False, authenticate=False)
async def verify_page(request: Request) -> Response:
    row = await _letter(request)
    matches: bool | None = None
    if request.method == "POST":
        sent = await _uploaded_sha256(request)
        if sent is not None:
            matches = same(sent, row.signed_sha256)
        await record_event(
            "document.verified",
            "project_document",
            str(row.id),
            {"via": "upload", "matches": matches, "status": row.status},
        )
    else:
        await record_event(
            "document.verified",
            "project_document",
            str(row.id),
            {"via": "page", "status": row.status},
        )
    return render(
        request,
        "verify.html",
        {
            "facts": row.public,
            "status": row.status,
            "changed_on": row.status_changed_at.date().isoformat()
            if row.status_changed_at and row.status != "valid"
            else None,
            "sha256": row.signed_sha256,
            "matches": matches,
        },
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
        },
    )


ROUTES = [Route("/verify/{token}", verify_page, methods=["GET", "POST"])]
