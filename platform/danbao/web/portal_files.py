"""Files in the portal: an applicant uploads to an attachment field of the application
form and downloads the files of their own applications. The checks are the staff API's
(streamed size limit, type by extension and content); ownership replaces the data scope.

- ``POST /portal/api/forms/{form_id}/attachments/{field}``: pending uploads of the
  applicant's owner identity, bound when a draft is saved (the records domain checks that
  every reference is the caller's own);
- ``GET /portal/api/attachments/{id}``: a pending upload of the applicant's, or a file an
  application of theirs holds. Anything else is the same 404.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from danbao.audit import record_event
from danbao.authz.fields import FieldRule
from danbao.db.models import Attachment, StoredFile
from danbao.portal import ownership
from danbao.records import attachment_purge, attachments
from danbao.storage import ObjectNotFound
from danbao.web import portal_pages
from danbao.web.attachments_api import FILE_PART, _checked, _refusal
from danbao.web.errors import AuditNote, HttpError, locale_of
from danbao.web.portal_endpoint import portal_endpoint
from danbao.web.records_export import content_disposition
from danbao.web.tenant_endpoint import services_of
from danbao.web.uploads import ReceivedFile, UploadRefused, receive_files


@portal_endpoint()
async def upload(request: Request) -> Response:
    """
    summary: Upload files to an attachment field of the application form (portal session)
    tags: [portal]
    responses:
      201: {description: "{items: [{id, name, size, content_type, sha256}]}"}
      401: {description: Not signed in to the portal}
      403: {description: The field is not writable for applicants}
      404: {description: Not the application form, or no such attachment field}
      413: {description: "A file over the field's size limit"}
      422: {description: "Too many files, an empty one, or a type refused"}
    """
    desk = await portal_pages.desk_of(request)
    field_key = request.path_params["field"]
    spec = attachments.spec_for(desk.form, field_key)
    if request.path_params["form_id"] != desk.form.form_id or spec is None:
        raise HttpError(404, "not_found")
    if desk.rules.rule(field_key) != FieldRule.WRITABLE:
        note = AuditNote(
            "authz.denied", "field", f"{desk.form.form_id}/{field_key}", {"action": "upload"}
        )
        raise HttpError(403, "forbidden", audit=note)
    label = desk.form.label(field_key, locale_of(request))
    received: list[ReceivedFile] = []
    try:
        received = await receive_files(
            request, field_name=FILE_PART, max_bytes=spec.max_bytes, max_files=spec.max_count
        )
        checked = [_checked(spec, item) for item in received]
        store = services_of(request).store
        items = [
            await attachments.store_upload(store, desk.form, field_key, item, user_id=desk.owner.id)
            for item in checked
        ]
    except UploadRefused as refused:
        raise _refusal(request, label, field_key, spec, refused) from refused
    finally:
        for item in received:
            item.close()
    await attachment_purge.schedule(services_of(request).queue)
    return JSONResponse({"items": items}, status_code=201)


@portal_endpoint()
async def download(request: Request) -> Response:
    """
    summary: Download a file of one of the applicant's own applications (portal session)
    tags: [portal]
    responses:
      200: {description: "The file, as an attachment with its original name, nosniff"}
      401: {description: Not signed in to the portal}
      404: {description: "No such file of yours"}
    """
    desk = await portal_pages.desk_of(request)
    try:
        found = await Attachment.get_in_tenant(uuid.UUID(request.path_params["attachment_id"]))
    except ValueError:
        found = None
    if found is None:
        raise HttpError(404, "not_found")
    if found.record_id is None:
        if not attachments.usable_pending(found, desk.owner.id):
            raise HttpError(404, "not_found")
    else:
        record = await ownership.record_of(desk.visitor.signed_in, str(found.record_id))
        held = record.data.get(found.field_key) if record is not None else None
        if not isinstance(held, list) or not any(
            isinstance(ref, dict) and ref.get("id") == str(found.id) for ref in held
        ):
            raise HttpError(404, "not_found")
        if desk.rules.rule(found.field_key) in (FieldRule.HIDDEN, FieldRule.MASKED):
            raise HttpError(404, "not_found")
    file = await StoredFile.filter(id=found.file_id).first()
    if file is None:
        raise HttpError(404, "not_found")
    try:
        chunks = await services_of(request).store.open_stream(file.key)
    except ObjectNotFound as exc:
        raise HttpError(404, "not_found") from exc
    await record_event(
        "attachment.downloaded",
        "attachment",
        str(found.id),
        {"form": found.form_id, "field": found.field_key, "via": "portal"},
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


ROUTES = [
    Route("/api/forms/{form_id}/attachments/{field}", upload, methods=["POST"]),
    Route("/api/attachments/{attachment_id}", download, methods=["GET"]),
]
