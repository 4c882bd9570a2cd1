"""The form editor of the administrator's console, and the versions page with its diff.

``/t/{slug}/admin/forms`` lists the forms of the current definitions;
``…/forms/{form_id}/edit`` edits one as JSON in the browser. While the administrator
types, the page asks ``POST /t/{slug}/api/definitions/forms/{form_id}/check`` for every
problem of the bundle with that text in place (file, pointer, message, line), and
``…/forms/{form_id}/preview`` for the generated form, rendered by the staff pages' own
builder and template (``form_pages.build_sections``, ``forms/record.html``) and shown in a
sandboxed frame. Publishing posts the text; the server checks it again and publishes the
bundle as the next version, all or nothing. ``/admin/versions`` lists versions and the
changes between any two.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from danbao.authz.fields import FieldRule, FieldRules
from danbao.definitions.bundle import Bundle
from danbao.definitions.editing import Located, check_file_text
from danbao.definitions.layout import Kind, path_for
from danbao.definitions.versions import VersionNotFound, diff_versions, list_versions, publish
from danbao.records.definition import FormDefinition
from danbao.web.errors import HttpError, locale_of
from danbao.web.form_pages import build_sections
from danbao.web.guards import read_json, require
from danbao.web.pickers import choices_for
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, services_of, tenant_endpoint

_FORM_ID = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_TOP_ORDER = ("$schema", "$comment", "id", "title", "description", "schema", "ui")
_SHOWN = 400  # characters of a changed value shown in the diff


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


def _csrf(request: Request) -> str:
    auth = caller_of(request).auth
    return auth.session.csrf_token if auth is not None and auth.session is not None else ""


def _form_id(request: Request) -> str:
    form_id = str(request.path_params["form_id"])
    if not _FORM_ID.fullmatch(form_id):
        raise HttpError(404, "not_found")
    return form_id


async def _current(request: Request) -> tuple[int, Bundle]:
    active = await services_of(request).bundles.current()
    if active is None:
        raise HttpError(404, "not_found")
    return active


def pretty(form: dict[str, Any]) -> str:
    """The form as an administrator reads it: id and title first, the schema, then the layout
    (the stored JSONB keeps no key order)."""
    ordered = {k: form[k] for k in _TOP_ORDER if k in form}
    ordered.update({k: v for k, v in sorted(form.items()) if k not in ordered})
    return json.dumps(ordered, ensure_ascii=False, indent=2) + "\n"


def starter(form_id: str) -> dict[str, Any]:
    """A new form's first text: one field in one section, valid as it stands."""
    return {
        "id": form_id,
        "title": {"zh-CN": "新表单", "en": "New form"},
        "schema": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "title": "名称", "maxLength": 100}},
        },
        "ui": {
            "layout": [
                {"id": "main", "title": {"zh-CN": "基本信息", "en": "Basics"}, "fields": ["name"]}
            ]
        },
    }


async def _text_of(request: Request) -> str:
    body = await read_json(request)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise HttpError(400, "bad_request", params={"detail": "expected {text: '…'}"})
    return text


def _check(bundle: Bundle, form_id: str, text: str) -> tuple[Bundle | None, list[Located]]:
    return check_file_text(bundle.to_dict(), path_for(Kind.FORM, form_id), text)


@tenant_endpoint()
async def forms_page(request: Request) -> Response:
    await require(request, "admin:definitions", "read")
    version, bundle = await _current(request)
    new_id = request.query_params.get("new", "").strip()
    if new_id and _FORM_ID.fullmatch(new_id):
        return RedirectResponse(f"{_base(request)}/admin/forms/{new_id}/edit", 303)
    return render(
        request,
        "admin/forms.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "version": version,
            "forms": [
                (form_id, bundle.forms[form_id].get("title")) for form_id in sorted(bundle.forms)
            ],
            "bad_id": bool(new_id),
        },
        status_code=422 if new_id else 200,
    )


async def _editor(
    request: Request,
    form_id: str,
    version: int,
    text: str,
    *,
    errors: list[Located] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/form_editor.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "form_id": form_id,
            "version": version,
            "text": text,
            "errors": [e.as_json() for e in errors or []],
            "published": request.query_params.get("published"),
            "unchanged": request.query_params.get("same") == "1",
            "check_url": f"{_base(request)}/api/definitions/forms/{form_id}/check",
            "preview_url": f"{_base(request)}/admin/forms/{form_id}/preview",
        },
        status_code=status_code,
    )


@tenant_endpoint()
async def editor_page(request: Request) -> Response:
    form_id = _form_id(request)
    if request.method == "GET":
        await require(request, "admin:definitions", "read")
        version, bundle = await _current(request)
        form = bundle.forms.get(form_id) or starter(form_id)
        return await _editor(request, form_id, version, pretty(form))
    await require(request, "admin:definitions", "publish")
    version, bundle = await _current(request)
    posted = await request.form()
    text, note = str(posted.get("text") or ""), str(posted.get("note") or "")[:200]
    checked, errors = _check(bundle, form_id, text)
    if checked is None:
        return await _editor(request, form_id, version, text, errors=errors, status_code=422)
    published, created = await publish(checked, note=note or f"form {form_id} (editor)")
    query = f"published={published.number}" + ("" if created else "&same=1")
    return RedirectResponse(f"{_base(request)}/admin/forms/{form_id}/edit?{query}", 303)


@tenant_endpoint()
async def check_form(request: Request) -> Response:
    """
    summary: Check a form definition's text within the current bundle, without publishing
    tags: [definitions]
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [text], properties: {text: {type: string}}}
    responses:
      200: {description: "{valid, errors: [{file, pointer, message, line, column}]}"}
      403: {description: Not allowed (needs admin:definitions read)}
    """
    await require(request, "admin:definitions", "read")
    form_id = _form_id(request)
    _, bundle = await _current(request)
    checked, errors = _check(bundle, form_id, await _text_of(request))
    return JSONResponse({"valid": checked is not None, "errors": [e.as_json() for e in errors]})


@tenant_endpoint()
async def preview(request: Request) -> Response:
    """The generated form for the posted text, exactly as staff would get a new one (every
    field writable); 422 and nothing to show while the text is not a valid bundle."""
    await require(request, "admin:definitions", "read")
    form_id = _form_id(request)
    _, bundle = await _current(request)
    checked, _ = _check(bundle, form_id, await _text_of(request))
    if checked is None:
        raise HttpError(422, "invalid")
    form = FormDefinition.from_bundle(checked, form_id)
    locale = locale_of(request)
    defaults = {k: p["default"] for k, p in form.properties.items() if "default" in p}
    # The fields the form's conditions hide at first are hidden in the preview too (the
    # sandboxed frame has no origin, so the page's logic module cannot load there).
    state = form.logic.run(defaults).state if form.logic.active else None
    sections = build_sections(
        form,
        defaults,
        FieldRules({}, FieldRule.WRITABLE),
        {},
        locale,
        read_only=False,
        state=state,
        choices=await choices_for(form),  # pickers show the tenant's own users
    )
    title = form.content.get("title", {})
    description = form.content.get("description", {})
    return render(
        request,
        "forms/record.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": "",
            "form": form,
            "title": title.get(locale) or title.get("zh-CN") or form_id,
            "description": description.get(locale) or description.get("zh-CN") or "",
            "record": None,
            "status_label": "",
            "sections": sections,
            "errors": [],
            "action": "#",
            "can_save": True,
            "can_submit": True,
            "list_url": "#",
            "notice": None,
        },
        # The frame runs the form's own script but gets no origin: no cookies, no parent.
        headers={"Content-Security-Policy": "sandbox allow-scripts"},
    )


def _shown(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


@tenant_endpoint()
async def versions_page(request: Request) -> Response:
    await require(request, "admin:definitions", "read")
    versions = await list_versions()
    numbers = [v.number for v in versions]
    params = request.query_params
    latest = numbers[-1] if numbers else 0
    try:
        new = int(params.get("to") or latest)
        old = int(params.get("from") or max(new - 1, 1))
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": "from and to: numbers"}) from exc
    only = params.get("file", "")
    changes: list[dict[str, str]] = []
    if numbers and old != new:
        try:
            found = await diff_versions(old, new)
        except VersionNotFound as exc:
            raise HttpError(404, "not_found") from exc
        changes = [
            {
                "file": c.file,
                "op": c.op,
                "pointer": c.pointer or "/",
                "old": _shown(c.old),
                "new": _shown(c.new),
            }
            for c in found
            if not only or c.file == only
        ]
    return render(
        request,
        "admin/versions.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "versions": list(reversed(versions)),
            "numbers": numbers,
            "old": old,
            "new": new,
            "only": only,
            "changes": changes,
        },
    )


PAGE_ROUTES = [
    Route("/admin/forms", forms_page, methods=["GET"]),
    Route("/admin/forms/{form_id}/edit", editor_page, methods=["GET", "POST"]),
    Route("/admin/forms/{form_id}/preview", preview, methods=["POST"]),
    Route("/admin/versions", versions_page, methods=["GET"]),
]
API_ROUTES = [
    Route("/definitions/forms/{form_id}/check", check_form, methods=["POST"]),
]
