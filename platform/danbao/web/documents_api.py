"""A record's documents over HTTP: preview, issue (render, sign, store), list, download,
and release or revoke a letter.

Everything is authorised like the record itself (``read`` or ``update`` on its form, the
record in the caller's data scope), so another tenant's or an out-of-scope document is
the same 404 as a missing one. See docs/documents.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import row_rule
from danbao.db.models import ProjectDocument, Record, StoredFile
from danbao.documents.compose import RenderFailed, UnknownDocument, declaration
from danbao.documents.issuing import (
    ISSUE_EVENTS,
    REVOKE_EVENT,
    NotForThisForm,
    NotSignedAtOnce,
    issue,
    printed_fields,
    project_of,
    render_preview,
)
from danbao.documents.status import STATUSES, set_status
from danbao.guarantee.service import apply_event
from danbao.plugins.errors import PluginError
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import check_allowed, read_json
from danbao.web.plugins_api import plugin_http_error
from danbao.web.projects_api import REFUSALS, transition_refused
from danbao.web.records_api import FormContext, authorise, record_from_path, record_in_scope
from danbao.web.records_export import content_disposition
from danbao.web.tenant_endpoint import cookie_path, services_of, tenant_endpoint

# Tenant-authored HTML shown on our origin: no script, no fetching, only inline styles
# and the data: images the renderer itself makes.
PREVIEW_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def document_json(row: ProjectDocument) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "record_id": str(row.record_id),
        "project_id": str(row.project_id) if row.project_id else None,
        "document": row.document_id,
        "kind": row.kind,
        "number": row.number,
        "status": row.status,
        "definition_version": row.definition_version,
        "template_sha256": row.template_sha256,
        "rendered_sha256": row.rendered_sha256,
        "signed_sha256": row.signed_sha256,
        "signed_with": row.signed_with,
        "verify_token": row.verify_token,
        "issued_by": str(row.issued_by),
        "issued_at": row.issued_at.isoformat(),
    }


def check_fields_visible(rules: FieldRules, used: Iterable[str]) -> None:
    """403 unless the caller may see every field the document prints: a PDF must not show
    what the record page hides or masks for them (an ID number masked for legal counsel)."""
    kept = [
        name
        for name in sorted(used)
        if (row_rule(rules, name) if "." in name else rules.rule(name))
        in (FieldRule.HIDDEN, FieldRule.MASKED)
    ]
    if kept:
        details = [
            {"pointer": "/" + name.replace(".", "/"), "message": "hidden or masked for you"}
            for name in kept
        ]
        raise HttpError(403, "forbidden", details=details)


def verify_base(request: Request) -> str:
    """This tenant's public verification URL, without the token (its own host if it has one)."""
    return str(request.base_url).rstrip("/") + cookie_path(request) + "verify/"


async def _document(record: Record, request: Request) -> ProjectDocument:
    try:
        document_id = uuid.UUID(request.path_params["document_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    row = await ProjectDocument.filter(id=document_id, record_id=record.id).first()
    if row is None:
        raise HttpError(404, "not_found")
    return row


async def issuing_context(
    request: Request, doc_id: str, ctx: FormContext | None = None
) -> tuple[FormContext, Record]:
    """The caller's form context and the record (locked), if the caller may issue
    ``doc_id`` for it: a record with a project needs the project event the document fires
    (``project:sign_contract`` for a contract, ``project:issue_letter`` for a letter), so
    finance may issue letters without editing applications; a record without one needs
    ``update`` on its form. Either way the record must be in the caller's read scope."""
    ctx = ctx or await authorise(request, "read")
    record = await record_in_scope(ctx, request, for_update=True)
    if await project_of(record) is None:
        check_allowed(ctx.enforcer, ctx.user, f"form:{ctx.form.form_id}", "update")
        return ctx, record
    try:
        kind = declaration(ctx.bundle, doc_id)["kind"]
    except UnknownDocument as exc:
        raise HttpError(404, "not_found") from exc
    check_allowed(ctx.enforcer, ctx.user, f"project:{ISSUE_EVENTS[kind]}", "update")
    return ctx, record


def may_issue(ctx: FormContext, kind: str, has_project: bool) -> bool:
    """Whether the page should offer issuing ``kind`` (the same rule as ``issuing_context``)."""
    if has_project:
        return ctx.enforcer.allowed(ctx.user.roles, f"project:{ISSUE_EVENTS[kind]}", "update")
    return ctx.enforcer.allowed(ctx.user.roles, f"form:{ctx.form.form_id}", "update")


@tenant_endpoint()
async def preview(request: Request) -> Response:
    """
    summary: The document rendered from today's template and the record, not numbered or signed
    tags: [documents]
    parameters:
      - {name: format, in: query, schema: {type: string, enum: [html, pdf]}}
    responses:
      200: {description: "text/html or application/pdf"}
      403: {description: "The template prints fields hidden or masked for the caller (details)"}
      404: {description: No such record in scope, or the bundle declares no such document}
      422: {description: The document is rendered from another form}
    """
    ctx, record = await record_from_path(request, "read")
    as_pdf = request.query_params.get("format", "html") == "pdf"
    try:
        check_fields_visible(ctx.rules, printed_fields(ctx.bundle, request.path_params["doc_id"]))
        body = await render_preview(
            ctx.bundle, ctx.version, request.path_params["doc_id"], record, pdf=as_pdf
        )
    except UnknownDocument as exc:
        raise HttpError(404, "not_found") from exc
    except (NotForThisForm, RenderFailed) as exc:
        raise HttpError(422, "invalid", details=[{"pointer": "", "message": str(exc)}]) from exc
    headers = {"Content-Security-Policy": PREVIEW_CSP, "Cache-Control": "no-store"}
    media = "application/pdf" if as_pdf else "text/html; charset=utf-8"
    return Response(body, media_type=media, headers=headers)


@tenant_endpoint()
async def issue_document(request: Request) -> Response:
    """
    summary: Issue a document for the record — number, render, PDF, sign, store, with hashes
    description: >-
      When the record has a project, issuing a contract fires sign_contract (签约中 →
      已签约) and a letter issue_letter (已签约 → 已出函) in the same transaction, and
      needs that event's permission (project:<event> update) instead of update on the form.
    tags: [documents]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [document]
            properties:
              document: {type: string, description: "a documents/<id>.json of the bundle"}
              plugin: {type: string, description: "e-signature plug-in (default: own seal)"}
    responses:
      201: {description: "the issued document: number, hashes, verify_token"}
      403: {description: "The template prints fields hidden or masked for the caller (details)"}
      404: {description: No such record in scope, or no such document declared}
      409:
        description: >-
          No e-signature plug-in enabled, or it does not sign at once; or the project's
          state does not allow the document (project_not_allowed names both)
      422: {description: "details: [{pointer, message}]"}
    """
    ctx = await authorise(request, "read")
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("document"), str):
        raise HttpError(
            422, "invalid", details=[{"pointer": "/document", "message": "a document id"}]
        )
    ctx, record = await issuing_context(request, body["document"], ctx)
    services = services_of(request)
    try:
        check_fields_visible(ctx.rules, printed_fields(ctx.bundle, body["document"]))
        issued = await issue(
            ctx.bundle,
            ctx.version,
            body["document"],
            record,
            gateway=services.plugins,
            store=services.store,
            verify_base=verify_base(request),
            issued_by=str(ctx.user.id),
            plugin_id=str(body["plugin"]) if body.get("plugin") else None,
        )
    except UnknownDocument as exc:
        raise HttpError(404, "not_found") from exc
    except (NotForThisForm, RenderFailed) as exc:
        raise HttpError(
            422, "invalid", details=[{"pointer": "/document", "message": str(exc)}]
        ) from exc
    except NotSignedAtOnce as exc:
        raise HttpError(409, "document_not_signed") from exc
    except PluginError as failure:
        raise plugin_http_error(failure) from failure
    except REFUSALS as exc:
        kind = declaration(ctx.bundle, body["document"])["kind"]
        raise transition_refused(exc, ISSUE_EVENTS[kind], locale_of(request)) from exc
    return JSONResponse(document_json(issued.document), 201)


@tenant_endpoint()
async def list_documents(request: Request) -> Response:
    """
    summary: The record's issued documents, newest first
    tags: [documents]
    responses:
      200: {description: "{items: [document]}"}
      404: {description: No such record in scope}
    """
    _, record = await record_from_path(request, "read")
    rows = await ProjectDocument.filter(record_id=record.id).order_by("-issued_at")
    return JSONResponse({"items": [document_json(row) for row in rows]})


@tenant_endpoint()
async def download(request: Request) -> Response:
    """
    summary: Download an issued document's signed PDF (or, with variant=rendered, the unsigned one)
    tags: [documents]
    parameters:
      - {name: variant, in: query, schema: {type: string, enum: [signed, rendered]}}
    responses:
      200: {description: application/pdf}
      403: {description: "The document prints fields hidden or masked for the caller (details)"}
      404: {description: No such record in scope, or no such document of it}
    """
    ctx, record = await record_from_path(request, "read")
    row = await _document(record, request)
    check_fields_visible(ctx.rules, row.fields_used)
    rendered = request.query_params.get("variant") == "rendered"
    stored = await StoredFile.get(id=row.rendered_file_id if rendered else row.signed_file_id)
    pdf = await services_of(request).store.get(stored.key)
    await record_event(
        "document.downloaded",
        "project_document",
        str(row.id),
        {"variant": "rendered" if rendered else "signed"},
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(stored.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@tenant_endpoint()
async def change_status(request: Request) -> Response:
    """
    summary: Release or revoke an issued document; its public verification page shows the status
    description: >-
      A document of a project follows the project: revoking its letter fires
      revoke_letter (已出函 → 已签约, needs project:revoke_letter update) in the same
      transaction; its other statuses change with the project (解保 releases its
      letters), so they are refused here (409 document_follows_project).
    tags: [documents]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [status, reason]
            properties:
              status: {type: string, enum: [valid, released, revoked]}
              reason: {type: string}
    responses:
      200: {description: the document}
      403: {description: Not allowed}
      404: {description: No such record in scope, or no such document of it}
      409: {description: "The document follows its project, or the project's state refuses"}
      422: {description: "details: [{pointer, message}]"}
    """
    ctx = await authorise(request, "read")
    record = await record_in_scope(ctx, request)
    row = await _document(record, request)
    body = await read_json(request)
    details = []
    if not isinstance(body, dict) or body.get("status") not in STATUSES:
        details.append({"pointer": "/status", "message": "one of " + ", ".join(STATUSES)})
    if not isinstance(body, dict) or not str(body.get("reason") or "").strip():
        details.append({"pointer": "/reason", "message": "say why"})
    if details:
        raise HttpError(422, "invalid", details=details)
    reason = str(body["reason"])[:500]
    if row.project_id is None:
        check_allowed(ctx.enforcer, ctx.user, f"form:{ctx.form.form_id}", "update")
    elif row.kind == "letter" and body["status"] == "revoked" and row.status == "valid":
        check_allowed(ctx.enforcer, ctx.user, f"project:{REVOKE_EVENT}", "update")
        try:
            await apply_event(
                row.project_id,
                REVOKE_EVENT,
                expected_version=None,
                user=ctx.user,
                reason=f"{row.number}: {reason}",
                via="documents",
            )
        except REFUSALS as exc:
            raise transition_refused(exc, REVOKE_EVENT, locale_of(request)) from exc
    else:
        raise HttpError(409, "document_follows_project", params={"status": row.status})
    await set_status(row, body["status"], reason)
    return JSONResponse(document_json(row))


_RECORD = "/forms/{form_id}/records/{record_id}"
ROUTES = [
    Route(_RECORD + "/document-previews/{doc_id}", preview, methods=["GET"]),
    Route(_RECORD + "/documents", issue_document, methods=["POST"]),
    Route(_RECORD + "/documents", list_documents, methods=["GET"]),
    Route(_RECORD + "/documents/{document_id}/pdf", download, methods=["GET"]),
    Route(_RECORD + "/documents/{document_id}/status", change_status, methods=["POST"]),
]
