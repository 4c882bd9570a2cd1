"""Records of a tenant's forms over HTTP, under ``/t/{slug}/api/forms/{form_id}/records``.

Thin: parse, find the form and authorise (``form:<id>``: create, update, submit, read),
fetch the record through the scoped access functions, call the action, answer with the
payload the caller's field rules allow. A record outside the caller's data scope is a
404, exactly like one that does not exist or belongs to another tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.authz.enforcer import TenantEnforcer
from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import apply_field_rules, row_rule
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Record, User
from danbao.definitions import Bundle
from danbao.definitions.attachments import attachment_fields
from danbao.definitions.versions import VersionNotFound, get_version
from danbao.records import actions, attachment_purge
from danbao.records.access import SORTS, ListQuery, get_record, list_records, scope_of
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.numbering import NoNumberingRule, pattern_for
from danbao.records.sensitive import UnknownField, resolve_equality
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import check_allowed, read_json
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint

MAX_PER_PAGE = 100
EQ_PREFIX = "eq."
MAX_EQ_VALUE = 200
DEFAULT_PER_PAGE = 20


@dataclass(frozen=True)
class FormContext:
    """The caller, the form at the current definitions, and the compiled matrix."""

    user: User
    version: int
    bundle: Bundle
    enforcer: TenantEnforcer
    form: FormDefinition

    @property
    def rules(self) -> FieldRules:
        return self.enforcer.field_rules(self.user.roles, self.form.form_id)


async def authorise(request: Request, action: str) -> FormContext:
    """The caller, the form and the matrix, if the caller may ``action`` on the form.

    Shared with the staff pages (``form_pages``), which authorise exactly as the API does.
    """
    user: User = caller_of(request).user
    active = await services_of(request).enforcer()
    if active is None:
        raise HttpError(404, "not_found")
    version, bundle, enforcer = active
    try:
        form = FormDefinition.from_bundle(bundle, request.path_params["form_id"])
    except FormNotFound as exc:
        raise HttpError(404, "not_found") from exc
    check_allowed(enforcer, user, f"form:{form.form_id}", action)
    return FormContext(user, version, bundle, enforcer, form)


async def pinned_form(ctx: FormContext, record: Record) -> FormDefinition:
    """The form as it was at the version the record was created with."""
    if record.form_version == ctx.version:
        return ctx.form
    try:
        stored = await get_version(record.form_version)
        return FormDefinition.from_files(stored.bundle, record.form_id)
    except (VersionNotFound, FormNotFound):
        return ctx.form  # a version cannot vanish; fall back rather than strand the record


async def record_from_path(
    request: Request, action: str, *, for_update: bool = False
) -> tuple[FormContext, Record]:
    """The form and the record the path names, if the caller may ``action`` on the form
    (else 403) and the record is in the caller's data scope (else 404, as a missing one).

    Handlers that must read or check something between the two (a body before a row
    lock, a second permission) call ``authorise`` and ``record_in_scope`` themselves.
    """
    ctx = await authorise(request, action)
    return ctx, await record_in_scope(ctx, request, for_update=for_update)


async def record_in_scope(
    ctx: FormContext, request: Request, *, for_update: bool = False
) -> Record:
    try:
        record_id = uuid.UUID(request.path_params["record_id"])
    except ValueError as exc:
        raise HttpError(404, "not_found") from exc
    return await scoped_record(
        ctx.enforcer,
        ctx.user,
        ctx.form.form_id,
        record_id,
        for_update=for_update,
        keys=services_of(request).keys,
    )


async def scoped_record(
    enforcer: TenantEnforcer,
    user: User,
    form_id: str,
    record_id: uuid.UUID,
    *,
    for_update: bool = False,
    keys: TenantKeys | None = None,
) -> Record:
    """The record if it is in ``user``'s data scope of the form, else 404 (sealed fields
    opened only with ``keys``)."""
    scope = scope_of(enforcer, user, form_id)
    record = await get_record(form_id, record_id, scope, for_update=for_update, keys=keys)
    if record is None:
        raise HttpError(404, "not_found")
    return record


def _record_json(record: Record, rules: FieldRules) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "form_id": record.form_id,
        "form_version": record.form_version,
        "number": record.number,
        "status": record.status,
        "revision": record.revision,
        "data": apply_field_rules(record.data, rules),
        "created_by": str(record.created_by),
        "department": record.department,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "submitted_at": record.submitted_at.isoformat() if record.submitted_at else None,
    }


def _invalid(request: Request, refused: actions.RecordInvalid) -> HttpError:
    return HttpError(422, "invalid", details=[e.as_json() for e in refused.errors])


async def _data_of(request: Request) -> tuple[dict[str, Any], int | None]:
    body = await read_json(request)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected {data: {...}}"})
    revision = body.get("version")
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
        raise HttpError(400, "bad_request", params={"detail": "version must be an integer"})
    return data, revision


async def create_draft_for(request: Request, ctx: FormContext, data: dict[str, Any]) -> Record:
    """``actions.create_draft`` with this request's caller, language and keys.

    The three ``*_for`` functions are the HTTP edge of the record actions, shared by the API
    and the staff pages: conflicts become 409, while ``RecordInvalid`` is left to the caller
    (a 422 JSON body here, the form re-rendered with its messages on a page).
    """
    return await actions.create_draft(
        ctx.form,
        ctx.version,
        data,
        user=ctx.user,
        rules=ctx.rules,
        locale=locale_of(request),
        keys=services_of(request).keys,
    )


async def save_draft_for(
    request: Request,
    ctx: FormContext,
    record: Record,
    form: FormDefinition,
    data: dict[str, Any],
    revision: int | None,
) -> Record:
    if attachment_fields(form.properties):
        # Attachments this save drops expire at once; have them (and stale uploads) purged.
        await attachment_purge.schedule(services_of(request).queue)
    try:
        return await actions.save_draft(
            record,
            form,
            data,
            rules=ctx.rules,
            locale=locale_of(request),
            revision=revision,
            keys=services_of(request).keys,
            user_id=ctx.user.id,
        )
    except (actions.NotADraft, actions.StaleRevision) as exc:
        raise HttpError(409, "conflict") from exc


async def submit_for(
    request: Request, ctx: FormContext, record: Record, form: FormDefinition
) -> Record:
    try:
        pattern = pattern_for(ctx.bundle.tenant, form.numbering_key)
        return await actions.submit(
            record, form, pattern, locale=locale_of(request), keys=services_of(request).keys
        )
    except NoNumberingRule as exc:
        detail = f"tenant.json has no numbering rule {form.numbering_key!r}"
        raise HttpError(409, "bad_request", params={"detail": detail}) from exc
    except actions.NotADraft as exc:
        raise HttpError(409, "conflict") from exc


@tenant_endpoint()
async def records_create(request: Request) -> Response:
    """
    summary: Create a draft record of a form (only the fields given are checked)
    tags: [records]
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [data], properties: {data: {type: object}}}
    responses:
      201: {description: The draft}
      403: {description: Not allowed (needs form:<id> create)}
      404: {description: No such form}
      422: {description: "Invalid; details list {pointer, message}"}
    """
    ctx = await authorise(request, "create")
    data, _ = await _data_of(request)
    try:
        record = await create_draft_for(request, ctx, data)
    except actions.RecordInvalid as refused:
        raise _invalid(request, refused) from refused
    return JSONResponse(_record_json(record, ctx.rules), status_code=201)


def list_query(request: Request) -> ListQuery:
    params = request.query_params
    try:
        page = int(params.get("page") or 1)
        per_page = int(params.get("per_page") or DEFAULT_PER_PAGE)
    except ValueError as exc:
        raise HttpError(
            400, "bad_request", params={"detail": "page and per_page: numbers"}
        ) from exc
    status = params.get("status") or None
    sort = params.get("sort") or "-created_at"
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        detail = f"page >= 1, per_page 1-{MAX_PER_PAGE}"
        raise HttpError(400, "bad_request", params={"detail": detail})
    if status not in (None, actions.DRAFT, actions.SUBMITTED):
        raise HttpError(400, "bad_request", params={"detail": "status: draft or submitted"})
    if sort not in SORTS:
        raise HttpError(400, "bad_request", params={"detail": "sort: " + ", ".join(sorted(SORTS))})
    eq = tuple(
        (name.removeprefix(EQ_PREFIX), value.strip()[:MAX_EQ_VALUE])
        for name, value in params.multi_items()
        if name.startswith(EQ_PREFIX)
    )
    return ListQuery(
        page=page,
        per_page=per_page,
        status=cast(Literal["draft", "submitted"] | None, status),
        q=(params.get("q") or "").strip()[:100],
        sort=sort,
        eq=eq,
    )


@tenant_endpoint()
async def records_index(request: Request) -> Response:
    """
    summary: The records of a form the caller may see (?page=&per_page=&status=&q=&sort=)
    tags: [records]
    parameters:
      - {name: page, in: query, schema: {type: integer, minimum: 1}}
      - {name: per_page, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
      - {name: status, in: query, schema: {enum: [draft, submitted]}}
      - {name: q, in: query, schema: {type: string}, description: number or first text field}
      - {name: sort, in: query, schema: {enum: [created_at, -created_at, number, -number]}}
      - name: eq.<field>
        in: query
        schema: {type: string}
        description: equals, for a string field (sensitive ones through their keyed hash)
    responses:
      200: {description: "{items, total, page, per_page}, within the caller's data scope"}
      400: {description: Bad parameters (an eq. filter on an unknown or non-text field)}
      403: {description: Not allowed (needs form:<id> read)}
      404: {description: No such form}
    """
    ctx = await authorise(request, "read")
    keys = services_of(request).keys
    try:
        query = await resolve_equality(keys, ctx.form, list_query(request))
    except UnknownField as exc:
        detail = f"eq.{exc}: not a text field of the form"
        raise HttpError(400, "bad_request", params={"detail": detail}) from exc
    scope = scope_of(ctx.enforcer, ctx.user, ctx.form.form_id)
    items, total = await list_records(
        ctx.form.form_id, scope, query, ctx.form.search_field, keys=keys
    )
    rules = ctx.rules
    return JSONResponse(
        {
            "items": [_record_json(r, rules) for r in items],
            "total": total,
            "page": query.page,
            "per_page": query.per_page,
        }
    )


@tenant_endpoint()
async def record_show(request: Request) -> Response:
    """
    summary: One record, with the fields the caller's field rules show
    tags: [records]
    responses:
      200: {description: The record}
      404: {description: No such form, or no such record in the caller's scope}
    """
    ctx, record = await record_from_path(request, "read")
    return JSONResponse(_record_json(record, ctx.rules))


@tenant_endpoint()
async def record_update(request: Request) -> Response:
    """
    summary: Save a draft; the given fields are merged in (null clears one)
    tags: [records]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [data]
            properties:
              data: {type: object}
              version: {type: integer, description: the revision edited; another gives 409}
    responses:
      200: {description: The draft}
      404: {description: No such record in the caller's scope}
      409: {description: Submitted already, or changed since the given version}
      422: {description: "Invalid or not writable; details list {pointer, message}"}
    """
    ctx = await authorise(request, "update")
    data, revision = await _data_of(request)
    record = await record_in_scope(ctx, request, for_update=True)
    form = await pinned_form(ctx, record)
    try:
        record = await save_draft_for(request, ctx, record, form, data, revision)
    except actions.RecordInvalid as refused:
        raise _invalid(request, refused) from refused
    return JSONResponse(_record_json(record, ctx.rules))


@tenant_endpoint()
async def record_submit(request: Request) -> Response:
    """
    summary: Submit a draft; the whole form is checked and the record gets its number
    tags: [records]
    responses:
      200: {description: The submitted record with its number}
      404: {description: No such record in the caller's scope}
      409: {description: Submitted already}
      422: {description: "Invalid; details list {pointer, message}"}
    """
    ctx, record = await record_from_path(request, "submit", for_update=True)
    form = await pinned_form(ctx, record)
    try:
        record = await submit_for(request, ctx, record, form)
    except actions.RecordInvalid as refused:
        raise _invalid(request, refused) from refused
    return JSONResponse(_record_json(record, ctx.rules))


@tenant_endpoint()
async def record_reveal(request: Request) -> Response:
    """
    summary: The clear value of one sensitive field of a record; audited
    tags: [records]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              field: {type: string, description: a top-level sensitive field}
              pointer: {type: string, description: "a row's field: /shareholders/0/id_number"}
    responses:
      200: {description: "{field, value}; an audit event record.revealed names the field (and
        the row's pointer)"}
      400: {description: Not a sensitive field of the form}
      403: {description: Not allowed (needs form:<id> unmask; the field must not be hidden)}
      404: {description: No such record in the caller's scope}
    """
    ctx = await authorise(request, "unmask")
    body = await read_json(request)
    field = body.get("field") if isinstance(body, dict) else None
    pointer = body.get("pointer") if isinstance(body, dict) else None
    if field is None and isinstance(pointer, str):
        return await _reveal_cell(request, ctx, pointer)
    if not isinstance(field, str):
        raise HttpError(
            400, "bad_request", params={"detail": "expected {field: <key>} or {pointer: …}"}
        )
    record = await record_in_scope(ctx, request)
    form = await pinned_form(ctx, record)
    if field not in form.sensitive_fields:
        raise HttpError(400, "bad_request", params={"detail": f"{field}: not a sensitive field"})
    if ctx.rules.rule(field) == FieldRule.HIDDEN:
        raise HttpError(403, "forbidden")
    await record_event(
        "record.revealed", "record", str(record.id), {"form": form.form_id, "field": field}
    )
    return JSONResponse({"field": field, "value": record.data.get(field)})


async def _reveal_cell(request: Request, ctx: FormContext, pointer: str) -> Response:
    """A sensitive field in one row of a repeating section: ``/shareholders/2/id_number``."""
    parts = pointer.split("/")
    if len(parts) != 4 or parts[0] or not parts[2].isdigit() or len(parts[2]) > 4:
        detail = f"{pointer[:80]}: expected /<section>/<row>/<field>"
        raise HttpError(400, "bad_request", params={"detail": detail})
    field, row, sub = parts[1], int(parts[2]), parts[3]
    path = f"{field}.{sub}"
    record = await record_in_scope(ctx, request)
    form = await pinned_form(ctx, record)
    if path not in form.sensitive_paths or "." not in path:
        raise HttpError(400, "bad_request", params={"detail": f"{path}: not a sensitive field"})
    if row_rule(ctx.rules, path) == FieldRule.HIDDEN:
        raise HttpError(403, "forbidden")
    rows = record.data.get(field)
    cell = rows[row] if isinstance(rows, list) and row < len(rows) else None
    if not isinstance(cell, dict):
        raise HttpError(404, "not_found")
    await record_event(
        "record.revealed",
        "record",
        str(record.id),
        {"form": form.form_id, "field": path, "pointer": pointer},
    )
    return JSONResponse({"pointer": pointer, "field": path, "value": cell.get(sub)})


ROUTES = [
    Route("/forms/{form_id}/records", records_create, methods=["POST"]),
    Route("/forms/{form_id}/records", records_index, methods=["GET"]),
    Route("/forms/{form_id}/records/{record_id}", record_show, methods=["GET"]),
    Route("/forms/{form_id}/records/{record_id}", record_update, methods=["PATCH"]),
    Route("/forms/{form_id}/records/{record_id}/submit", record_submit, methods=["POST"]),
    Route("/forms/{form_id}/records/{record_id}/reveal", record_reveal, methods=["POST"]),
]
