"""Attachments over HTTP: upload to a form's attachment field, download, withdraw.

- ``POST /forms/{form_id}/attachments/{field}`` (multipart, files under ``file``): the
  caller may create or update the form's records and write the field. Each file is read
  as it streams in, refused the moment it passes the field's size limit, then its type
  checked by extension and content; only when every file passes is anything stored. The
  answer lists pending references to put in the record's data when it is saved.
- ``GET /attachments/{id}``: a linked attachment is read exactly like its record (``read``
  on the form, the record in the caller's data scope, the field not hidden or masked for
  the caller, the record still holding it); a pending one by its uploader only.
- ``DELETE /attachments/{id}``: the uploader withdraws a pending upload.
Missing, foreign and out-of-scope attachments are the same 404.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from danbao.audit import record_event
from danbao.authz.fields import FieldRule
from danbao.db.models import Attachment, StoredFile, User
from danbao.definitions.attachments import AttachmentSpec
from danbao.forms.attachments import file_type_for
from danbao.records import attachment_purge, attachments
from danbao.records.attachments import CheckedFile
from danbao.storage import ObjectNotFound
from danbao.web.errors import AuditNote, HttpError, locale_of
from danbao.web.guards import check_allowed
from danbao.web.records_api import authorise, scoped_record
from danbao.web.records_export import content_disposition
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint
from danbao.web.uploads import ReceivedFile, UploadRefused, receive_files

FILE_PART = "file"
_UNNAMED = {"zh-CN": "上传的文件", "en": "the upload"}


def _refusal(
    request: Request, label: str, field_key: str, spec: AttachmentSpec, refused: UploadRefused
) -> HttpError:
    if refused.reason == "bad_request":
        detail = f"expected multipart/form-data with files under {FILE_PART!r}"
        return HttpError(400, "bad_request", params={"detail": detail})
    locale = locale_of(request)
    limits = {"too_large": spec.max_size_text, "too_many": spec.max_count, "type": spec.accept_text}
    name = refused.name or _UNNAMED["en" if locale == "en" else "zh-CN"]
    text = attachments.message(refused.reason, locale, label, limits.get(refused.reason, ""), name)
    status = 413 if refused.reason == "too_large" else 422
    return HttpError(status, "invalid", details=[{"pointer": f"/{field_key}", "message": text}])


def _checked(spec: AttachmentSpec, received: ReceivedFile) -> CheckedFile:
    if received.size == 0:
        raise UploadRefused("empty", received.name)
    kind = file_type_for(spec, received.name, received.head)
    if kind is None:
        raise UploadRefused("type", received.name)
    return CheckedFile(
        received.name, received.size, received.sha256, kind.content_type, received.spool
    )


@tenant_endpoint()
async def upload(request: Request) -> Response:
    """
    summary: Upload files to an attachment field; they stay pending until a saved record holds them
    tags: [attachments]
    requestBody:
      content:
        multipart/form-data:
          schema:
            type: object
            properties:
              file: {type: array, items: {type: string, format: binary}}
    responses:
      201: {description: "{items: [{id, name, size, content_type, sha256}]}, for the record's data"}
      400: {description: Not multipart/form-data, or no files under 'file'}
      403: {description: Not allowed (needs form:<id> create or update, and the field writable)}
      404: {description: No such form or attachment field}
      413: {description: "A file over the field's size limit; details name the field"}
      422: {description: "Too many files, an empty one, or a type refused (by name or content)"}
    """
    user: User = caller_of(request).user
    try:
        ctx = await authorise(request, "create")
    except HttpError as refused:
        if refused.status != 403:
            raise
        ctx = await authorise(request, "update")
    field_key = request.path_params["field"]
    spec = attachments.spec_for(ctx.form, field_key)
    if spec is None:
        raise HttpError(404, "not_found")
    if ctx.rules.rule(field_key) != FieldRule.WRITABLE:
        note = AuditNote(
            "authz.denied", "field", f"{ctx.form.form_id}/{field_key}", {"action": "upload"}
        )
        raise HttpError(403, "forbidden", audit=note)
    label = ctx.form.label(field_key, locale_of(request))
    received: list[ReceivedFile] = []
    try:
        received = await receive_files(
            request, field_name=FILE_PART, max_bytes=spec.max_bytes, max_files=spec.max_count
        )
        checked = [_checked(spec, item) for item in received]
        store = services_of(request).store
        items = [
            await attachments.store_upload(store, ctx.form, field_key, item, user_id=user.id)
            for item in checked
        ]
    except UploadRefused as refused:
        raise _refusal(request, label, field_key, spec, refused) from refused
    finally:
        for item in received:
            item.close()
    await attachment_purge.schedule(services_of(request).queue)
    return JSONResponse({"items": items}, status_code=201)


async def _attachment(request: Request) -> Attachment:
    try:
        attachment_id = uuid.UUID(request.path_params["attachment_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    found = await Attachment.get_in_tenant(attachment_id)
    if found is None:
        raise HttpError(404, "not_found")
    return found


async def _check_readable(request: Request, attachment: Attachment, user: User) -> None:
    """As reading the record: permission, data scope, field rule; pending: uploader only."""
    if attachment.record_id is None:
        if not attachments.usable_pending(attachment, user.id):
            raise HttpError(404, "not_found")
        return
    active = await services_of(request).enforcer()
    enforcer = active[2] if active else None
    check_allowed(enforcer, user, f"form:{attachment.form_id}", "read")
    if enforcer is None:
        raise HttpError(404, "not_found")
    # Sealed fields stay sealed (no keys): only the field's references are read.
    record = await scoped_record(enforcer, user, attachment.form_id, attachment.record_id)
    rule = enforcer.field_rules(user.roles, attachment.form_id).rule(attachment.field_key)
    if rule in (FieldRule.HIDDEN, FieldRule.MASKED):
        resource = f"form:{attachment.form_id}"
        note = AuditNote(
            "authz.denied",
            "attachment",
            str(attachment.id),
            {"resource": resource, "field": attachment.field_key},
        )
        raise HttpError(403, "forbidden", audit=note)
    held = record.data.get(attachment.field_key)
    if not isinstance(held, list) or not any(
        isinstance(ref, dict) and ref.get("id") == str(attachment.id) for ref in held
    ):
        raise HttpError(404, "not_found")


@tenant_endpoint()
async def download(request: Request) -> Response:
    """
    summary: Download an attachment (authorised like reading its record; pending by its uploader)
    tags: [attachments]
    responses:
      200: {description: "The file, as an attachment with its original name (RFC 5987), nosniff"}
      403: {description: No read permission on the form, or the field hidden or masked for you}
      404: {description: "No such attachment, out of your data scope, or another's pending one"}
    """
    user: User = caller_of(request).user
    attachment = await _attachment(request)
    await _check_readable(request, attachment, user)
    file = await StoredFile.filter(id=attachment.file_id).first()
    if file is None:
        raise HttpError(404, "not_found")
    try:
        chunks = await services_of(request).store.open_stream(file.key)
    except ObjectNotFound as exc:
        raise HttpError(404, "not_found") from exc
    await record_event(
        "attachment.downloaded",
        "attachment",
        str(attachment.id),
        {
            "form": attachment.form_id,
            "field": attachment.field_key,
            "record": str(attachment.record_id) if attachment.record_id else None,
        },
    )
    return StreamingResponse(
        chunks,
        media_type=file.content_type,
        headers={
            "Content-Disposition": content_disposition(file.filename),
            "Content-Length": str(file.size),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@tenant_endpoint()
async def withdraw(request: Request) -> Response:
    """
    summary: Withdraw the caller's pending upload (a record's attachment goes by editing the record)
    tags: [attachments]
    responses:
      204: {description: Withdrawn; the purge job removes the file}
      404: {description: No such pending upload of the caller}
      409: {description: A record holds it; remove it from the record's data instead}
    """
    user: User = caller_of(request).user
    attachment = await _attachment(request)
    if attachment.record_id is not None:
        await _check_readable(request, attachment, user)
        raise HttpError(409, "conflict")
    if not attachments.usable_pending(attachment, user.id):
        raise HttpError(404, "not_found")
    await attachments.withdraw(attachment)
    await attachment_purge.schedule(services_of(request).queue)
    return Response(status_code=204)


ROUTES = [
    Route("/forms/{form_id}/attachments/{field}", upload, methods=["POST"]),
    Route("/attachments/{attachment_id}", download, methods=["GET"]),
    Route("/attachments/{attachment_id}", withdraw, methods=["DELETE"]),
]
