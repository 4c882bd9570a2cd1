"""Autosave of drafts from the staff form page (``console/static/autosave.js``).

The page posts its own form (the same fields, the CSRF token and the revision it shows) to
``…/records/{id}/autosave`` a moment after the user stops typing, or to ``…/new/autosave``
for a form not saved yet, which creates the draft once and answers where it lives.
Answers are JSON for the script: 200 ``{revision, saved_at}``; 409 with a message when
the record was changed elsewhere since (the revision differs: another tab, a colleague)
or is no longer a draft, so nothing is overwritten silently; 422 with the field messages
(nothing is saved, the page keeps the input). Authorisation, scope, field rules and
validation are the record actions', exactly as for the page's own save button.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.db.models import Record
from danbao.i18n import translate
from danbao.records import actions
from danbao.web.errors import locale_of
from danbao.web.form_pages import data_from_form
from danbao.web.records_api import (
    authorise,
    create_draft_for,
    pinned_form,
    record_in_scope,
)
from danbao.web.tenant_endpoint import cookie_path, services_of, tenant_endpoint

CHINA = ZoneInfo("Asia/Shanghai")


def _saved(request: Request, record: Record, **extra: str) -> JSONResponse:
    at = datetime.datetime.now(CHINA)
    return JSONResponse({"revision": record.revision, "saved_at": f"{at:%H:%M}", **extra})


def _refused(request: Request, key: str, status: int, **body: object) -> JSONResponse:
    message = translate(locale_of(request), f"form.autosave.{key}")
    return JSONResponse({"error": key, "message": message, **body}, status_code=status)


def _invalid(request: Request, refused: actions.RecordInvalid) -> JSONResponse:
    return _refused(request, "invalid", 422, details=[e.as_json() for e in refused.errors])


@tenant_endpoint()
async def autosave_record(request: Request) -> Response:
    ctx = await authorise(request, "update")
    posted = await request.form()
    record = await record_in_scope(ctx, request, for_update=True)
    form = await pinned_form(ctx, record)
    raw = str(posted.get("revision") or "")
    if not raw.isdigit():  # autosave always names the revision it edits
        return _refused(request, "conflict", 409)
    patch = data_from_form(form, posted, ctx.rules, existing=record.data)
    try:
        record = await actions.save_draft(
            record,
            form,
            patch,
            rules=ctx.rules,
            locale=locale_of(request),
            revision=int(raw),
            keys=services_of(request).keys,
        )
    except (actions.StaleRevision, actions.NotADraft):
        return _refused(request, "conflict", 409)
    except actions.RecordInvalid as refused:
        return _invalid(request, refused)
    return _saved(request, record)


@tenant_endpoint()
async def autosave_new(request: Request) -> Response:
    """The first autosave of a new form: the draft is created and the page moves onto it."""
    ctx = await authorise(request, "create")
    posted = await request.form()
    data = data_from_form(ctx.form, posted, ctx.rules, existing={})
    if not data:
        return _refused(request, "empty", 422, details=[])
    try:
        record = await create_draft_for(request, ctx, data)
    except actions.RecordInvalid as refused:
        return _invalid(request, refused)
    base = f"{cookie_path(request).rstrip('/')}/forms/{ctx.form.form_id}/records/{record.id}"
    return _saved(request, record, url=base, autosave=f"{base}/autosave")


ROUTES = [
    Route("/forms/{form_id}/new/autosave", autosave_new, methods=["POST"]),
    Route("/forms/{form_id}/records/{record_id}/autosave", autosave_record, methods=["POST"]),
]
