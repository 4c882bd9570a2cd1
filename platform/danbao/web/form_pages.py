"""Staff pages for the records of a form, generated from its definition.

``/t/{slug}/forms/{form_id}/records`` lists the caller's records, ``…/new`` and
``…/records/{id}`` show the form. Authorisation, scope, field rules, validation and
numbering are the records domain's, reached exactly as the JSON API reaches them
(``records_api.authorise`` and friends); this module only turns a definition into
fields, form posts into data, and refusals into messages beside their fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.authz.fields import FieldRule, FieldRules, least_permissive
from danbao.authz.masking import apply_field_rules, row_rule
from danbao.db.models import Record, User
from danbao.definitions import Bundle
from danbao.definitions.attachments import AttachmentSpec, spec_of
from danbao.i18n import translate
from danbao.records import actions, attachments
from danbao.records.access import ListQuery, list_records, scope_of
from danbao.records.definition import FormDefinition
from danbao.records.logic import LogicState
from danbao.records.validation import FieldError
from danbao.web import widgets
from danbao.web.approval_links import record_approval
from danbao.web.errors import locale_of
from danbao.web.guards import check_allowed
from danbao.web.pickers import choices_for
from danbao.web.records_api import (
    FormContext,
    authorise,
    create_draft_for,
    pinned_form,
    record_from_path,
    record_in_scope,
    save_draft_for,
    submit_for,
)
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, services_of, tenant_endpoint
from danbao.web.widgets import Choices

CHINA = ZoneInfo("Asia/Shanghai")
PER_PAGE = 20
TEXTAREA_OVER = 200
_ROW_NAME = re.compile(r"^([a-z][a-z0-9_]*)\[(\d{1,4})\]\[([a-z][a-z0-9_]*)\]$")


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


def _form_url(request: Request, form_id: str, *parts: str) -> str:
    return "/".join([f"{_base(request)}/forms/{form_id}", *parts])


def creatable_forms(bundle: Bundle | None, enforcer: Any, user: User) -> dict[str, bool]:
    """Form id -> whether ``user`` may create one, for the forms the user may read."""
    if bundle is None or enforcer is None:
        return {}
    found: dict[str, bool] = {}
    for form_id in bundle.forms:
        resource = f"form:{form_id}"
        if enforcer.allowed(user.roles, resource, "read"):
            found[form_id] = enforcer.allowed(user.roles, resource, "create")
    return found


# ---------------------------------------------------------------- the form, as fields


@dataclass
class Field:
    """One input of the page, with what the template needs and nothing else."""

    key: str
    name: str  # the form-post name: ``amount`` or ``shareholders[0][name]``
    dom_id: str
    label: str
    kind: str  # text, textarea, select, number, checkbox, date, array
    value: Any = None
    required: bool = False
    help: str = ""
    placeholder: str = ""
    input_type: str = "text"
    inputmode: str = ""
    step: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    rule: str = FieldRule.WRITABLE
    error: str = ""
    rows: list[list[Field]] = field(default_factory=list)
    template_row: list[Field] = field(default_factory=list)
    row_errors: dict[int, str] = field(default_factory=dict)
    attachment: AttachmentSpec | None = None  # the limits of an attachment field
    reveal: str = ""  # the reveal endpoint's field or pointer, for a masked sensitive value
    hidden: bool = False  # by the form's conditions (records.logic); the page script re-decides
    computed: bool = False  # the server computes it: shown, never posted
    extra: dict[str, Any] = field(default_factory=dict)  # a widget's own parts (widgets.py)

    @property
    def editable(self) -> bool:
        return self.rule == FieldRule.WRITABLE


def _text(value: Any, locale: str) -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh-CN") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def _options(prop: Mapping[str, Any], locale: str) -> list[tuple[str, str]] | None:
    if isinstance(prop.get("oneOf"), list) and all(
        isinstance(o, dict) and "const" in o for o in prop["oneOf"]
    ):
        return [(str(o["const"]), _text(o.get("title", o["const"]), locale)) for o in prop["oneOf"]]
    if isinstance(prop.get("enum"), list):
        return [(str(v), str(v)) for v in prop["enum"]]
    return None


def _is_rows(prop: Mapping[str, Any]) -> bool:
    items = prop.get("items")
    return prop.get("type") == "array" and isinstance(items, dict) and items.get("type") == "object"


def _describe(
    f: Field,
    prop: Mapping[str, Any],
    ui: Mapping[str, Any],
    locale: str,
    choices: Choices,
    *,
    computed: bool = False,
) -> None:  # fills the kind-specific parts of ``f`` from the schema
    options = _options(prop, locale)
    f.attachment = spec_of(prop)
    # A computed field is shown as the plain value logic.js writes into it, not as a widget.
    if (
        f.attachment is None
        and not computed
        and widgets.describe(f, prop, ui, locale, choices, options)
    ):
        return
    kind = prop.get("type")
    if f.attachment is not None:
        f.kind = "attachment"  # forms/_attachments.html, static/attachments.js
    elif options is not None:
        f.kind, f.options = "select", options
    elif kind in ("number", "integer"):
        f.kind, f.input_type = "number", "number"
        f.inputmode, f.step = ("numeric", "1") if kind == "integer" else ("decimal", "any")
    elif kind == "boolean":
        f.kind = "checkbox"
    elif prop.get("format") == "date":
        f.kind, f.input_type = "date", "date"
    elif (prop.get("maxLength") or 0) > TEXTAREA_OVER or ui.get("widget") == "textarea":
        f.kind = "textarea"
    else:
        f.kind = "text"
        if prop.get("format") == "cn-mobile":
            f.input_type, f.inputmode = "tel", "tel"
    f.help = _text(prop.get("description") or ui.get("help"), locale)
    f.placeholder = _text(ui.get("placeholder"), locale)


def _row_fields(
    key: str,
    items: Mapping[str, Any],
    index: str,
    row: Mapping[str, Any],
    rule: str,
    locale: str,
    rules: FieldRules | None = None,
    state: LogicState | None = None,
    computed: frozenset[tuple[str, str | None]] = frozenset(),
    choices: Choices | None = None,
) -> list[Field]:
    choices = choices if choices is not None else Choices()
    required = set(items.get("required", []))
    fields = []
    for sub, prop in items.get("properties", {}).items():
        own = FieldRule(rule)
        if rules is not None:  # a rule may name the row field: shareholders.id_number
            own = least_permissive(row_rule(rules, f"{key}.{sub}"), own)
        if own == FieldRule.HIDDEN:
            continue
        at = f"/{key}/{index}/{sub}"
        f = Field(
            key=sub,
            name=f"{key}[{index}][{sub}]",
            dom_id=f"f-{key}-{index}-{sub}",
            label=_text(prop.get("title") or sub, locale),
            kind="text",
            value=row.get(sub),
            required=sub in required or (state is not None and at in state.required),
            rule=own,
            hidden=state is not None and state.is_hidden(at),
        )
        _describe(f, prop, {}, locale, choices, computed=(key, sub) in computed)
        _mark_computed(f, (key, sub) in computed)
        if own == FieldRule.MASKED:
            f.kind, f.input_type = "text", "text"
            if prop.get("x-sensitive") is True and index.isdigit() and f.value is not None:
                f.reveal = f"/{key}/{index}/{sub}"
        fields.append(f)
    return fields


def _mark_computed(f: Field, computed: bool) -> None:
    if computed:
        f.computed, f.rule = True, FieldRule.READONLY
        f.kind = "text" if f.kind == "number" else f.kind


def build_sections(
    form: FormDefinition,
    values: Mapping[str, Any],
    rules: FieldRules,
    errors: Mapping[str, str],
    locale: str,
    *,
    read_only: bool,
    state: LogicState | None = None,
    choices: Choices | None = None,
) -> list[dict[str, Any]]:
    """The layout's sections with their fields; fields hidden by field rules are left out.

    ``state`` (records.logic) marks the fields the form's conditions hide or require now;
    they are rendered hidden, so a page without scripts shows what the server will keep.
    ``choices``: the options of coded fields (web.pickers); by default the form's own
    dictionaries and departments, without users.
    """
    choices = choices if choices is not None else Choices(form.lookups)
    required = set(form.schema.get("required", []))
    computed = form.logic.computed
    ui_fields = form.content.get("ui", {}).get("fields", {})
    layout = form.content.get("ui", {}).get("layout") or [{"fields": list(form.field_order)}]
    sections = []
    for section in layout:
        fields = []
        for key in section.get("fields", []):
            prop = form.properties.get(key)
            rule = rules.rule(key)
            if prop is None or rule == FieldRule.HIDDEN:
                continue
            if read_only and rule == FieldRule.WRITABLE:
                rule = FieldRule.READONLY
            f = Field(
                key=key,
                name=key,
                dom_id=f"f-{key}",
                label=form.label(key, locale),
                kind="text",
                value=values.get(key),
                required=key in required or (state is not None and f"/{key}" in state.required),
                rule=rule,
                error=errors.get(f"/{key}", "") or _inner_error(errors, key),
                hidden=state is not None and state.is_hidden(f"/{key}"),
            )
            if _is_rows(prop) and rule != FieldRule.MASKED:
                f.kind = "array"
                f.help = _text(
                    prop.get("description") or ui_fields.get(key, {}).get("help"), locale
                )
                given = values.get(key)
                for i, row in enumerate(given if isinstance(given, list) else []):
                    cells = _row_fields(
                        key,
                        prop["items"],
                        str(i),
                        row or {},
                        rule,
                        locale,
                        rules,
                        state,
                        computed,
                        choices,
                    )
                    for cell in cells:
                        cell.error = errors.get(f"/{key}/{i}/{cell.key}", "")
                    f.rows.append(cells)
                    if errors.get(f"/{key}/{i}"):
                        f.row_errors[i] = errors[f"/{key}/{i}"]
                f.template_row = _row_fields(
                    key,
                    prop["items"],
                    "__INDEX__",
                    {},
                    rule,
                    locale,
                    rules,
                    None,
                    computed,
                    choices,
                )
            else:
                is_computed = (key, None) in computed
                _describe(f, prop, ui_fields.get(key, {}), locale, choices, computed=is_computed)
                _mark_computed(f, is_computed)
                if rule == FieldRule.MASKED:  # shown as the API shows it, never editable
                    f.kind, f.input_type = "text", "text"
                    f.value = values.get(key)
                    if key in form.sensitive_fields and f.value is not None:
                        f.reveal = key
            fields.append(f)
        if fields:
            sections.append(
                {
                    "id": section.get("id", ""),
                    "title": _text(section.get("title"), locale),
                    "fields": fields,
                    "hidden": all(f.hidden for f in fields),
                }
            )
    return sections


def _inner_error(errors: Mapping[str, str], key: str) -> str:
    """A message about a part of a field (a date range's end, a choice of several)."""
    return next((m for p, m in errors.items() if p.startswith(f"/{key}/")), "")


# ---------------------------------------------------------------- form posts, as data


def _convert(prop: Mapping[str, Any], raw: str) -> Any:
    """A posted string as the schema's type; what does not parse stays a string, so the
    domain's validation names the field (``… should be a number``)."""
    kind = prop.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw
        if not math.isfinite(number):
            return raw
        return (
            int(number)
            if number.is_integer() and "." not in raw and "e" not in raw.lower()
            else number
        )
    return raw


def data_from_form(
    form: FormDefinition, posted: FormData, rules: FieldRules, *, existing: Mapping[str, Any]
) -> dict[str, Any]:
    """The writable fields of the post, typed. Empty inputs are omitted, except that a
    field the record already holds is cleared (``None``, as the API's merge patch)."""
    data: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, str]]] = {}
    for name, item in posted.multi_items():
        match = _ROW_NAME.match(name)
        if match and isinstance(item, str):
            key, index, sub = match.group(1), int(match.group(2)), match.group(3)
            rows.setdefault(key, {}).setdefault(index, {})[sub] = item
    ui_fields = form.content.get("ui", {}).get("fields", {})
    for key, prop in form.properties.items():
        if rules.rule(key) != FieldRule.WRITABLE:
            continue  # masked, readonly and hidden fields are not posted, so never written
        parsed = (
            widgets.NOT_HANDLED
            if spec_of(prop) is not None
            else widgets.parse(prop, ui_fields.get(key, {}), posted, key, form.lookups)
        )
        if parsed is not widgets.NOT_HANDLED:
            value: Any = parsed
        elif _is_rows(prop):
            items = prop["items"]
            given = existing.get(key)
            stored: list[Any] = given if isinstance(given, list) else []
            locked = [
                sub
                for sub in items.get("properties", {})
                if row_rule(rules, f"{key}.{sub}") != FieldRule.WRITABLE
            ]
            typed_rows = []
            for index in sorted(rows.get(key, {})):
                row = {
                    sub: _typed(items.get("properties", {}).get(sub, {}), raw)
                    for sub, raw in rows[key][index].items()
                    if sub not in locked
                }
                row = {k: v for k, v in row.items() if v is not None}
                # Cells the caller may not write are not posted: a row keeps its own, found
                # by the index in the input names (removing a row above does not shift it).
                if index < len(stored) and isinstance(stored[index], dict):
                    row.update({s: stored[index][s] for s in locked if s in stored[index]})
                if row:
                    typed_rows.append(row)
            value = typed_rows or None
        elif spec_of(prop) is not None:  # the widget posts the ids of the files it holds
            ids = [v for v in posted.getlist(key) if isinstance(v, str) and v]
            value = [{"id": i} for i in ids] or None
        elif prop.get("type") == "boolean":
            value = posted.get(key) is not None
        else:
            raw = posted.get(key)
            value = _typed(prop, raw) if isinstance(raw, str) else None
        if value is not None:
            data[key] = value
        elif key in existing:
            data[key] = None
    return data


def _typed(prop: Mapping[str, Any], raw: str) -> Any:
    if prop.get("type") == "boolean":
        return raw in ("on", "true", "1")
    text = raw.strip()
    return _convert(prop, text) if text else None


# ---------------------------------------------------------------- pages


def _status_label(request: Request, status: str) -> str:
    return translate(locale_of(request), f"form.status.{status}")


async def _page(
    request: Request,
    ctx: FormContext,
    form: FormDefinition,
    *,
    record: Record | None,
    values: Mapping[str, Any],
    errors: list[FieldError] | None = None,
    status_code: int = 200,
    approval: dict[str, Any] | None = None,
) -> Response:
    locale = locale_of(request)
    rules = ctx.rules
    roles = ctx.user.roles
    resource = f"form:{form.form_id}"
    if record is None:
        can_save = ctx.enforcer.allowed(roles, resource, "create")
        can_submit = can_save and ctx.enforcer.allowed(roles, resource, "submit")
        action = _form_url(request, form.form_id, "new")
    else:
        draft = record.status == actions.DRAFT
        can_save = draft and ctx.enforcer.allowed(roles, resource, "update")
        can_submit = can_save and ctx.enforcer.allowed(roles, resource, "submit")
        action = _form_url(request, form.form_id, "records", str(record.id))
    # The record page's scripts: reveal (roles with unmask) and autosave (drafts only).
    can_reveal = record is not None and ctx.enforcer.allowed(roles, resource, "unmask")
    autosave_url = action + "/autosave" if can_save else ""  # can_save: a draft, or new
    by_pointer = {e.pointer: e.message for e in errors or []}
    logic = form.logic if form.logic.active else None
    state = None
    if logic is not None:
        # What the conditions decide for the values shown; computed fields as computed now.
        result = logic.run(dict(values))
        state = result.state
        values = {**values, **{n: result.values.get(n) for n, k in logic.computed if k is None}}
    choices = await choices_for(form)
    sections = build_sections(
        form,
        values,
        rules,
        by_pointer,
        locale,
        read_only=not can_save,
        state=state,
        choices=choices,
    )
    caller = caller_of(request)
    return render(
        request,
        "forms/record.html",
        {
            "tenant": caller.tenant,
            "base": _base(request),
            "csrf": caller.auth.session.csrf_token if caller.auth and caller.auth.session else "",
            "form": form,
            "title": _text(form.content.get("title"), locale) or form.form_id,
            "description": _text(form.content.get("description"), locale),
            "record": record,
            "status_label": _status_label(request, record.status if record else actions.DRAFT),
            "sections": sections,
            "errors": [{"message": e.message, "anchor": _anchor(e.pointer)} for e in errors or []],
            "action": action,
            "can_save": can_save,
            "can_submit": can_submit,
            "list_url": _form_url(request, form.form_id, "records"),
            "notice": request.query_params.get("done") if record is not None else None,
            "can_reveal": can_reveal,
            "reveal_url": f"{_base(request)}/api/forms/{form.form_id}/records/{record.id}/reveal"
            if record is not None and can_reveal
            else "",
            "autosave_url": autosave_url,
            "logic": logic.spec if logic is not None else None,
            "approval": approval,
        },
        status_code=status_code,
    )


def _anchor(pointer: str) -> str:
    parts = [p for p in pointer.split("/") if p]
    return "f-" + "-".join(parts) if parts else ""


@tenant_endpoint()
async def records_page(request: Request) -> Response:
    ctx = await authorise(request, "read")
    locale = locale_of(request)
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        page = 1
    scope = scope_of(ctx.enforcer, ctx.user, ctx.form.form_id)
    query = ListQuery(page=page, per_page=PER_PAGE)
    items, total = await list_records(
        ctx.form.form_id, scope, query, ctx.form.search_field, keys=services_of(request).keys
    )
    rules = ctx.rules
    first = ctx.form.search_field
    cards = []
    for record in items:
        shown = apply_field_rules(record.data, rules)
        cards.append(
            {
                "url": _form_url(request, ctx.form.form_id, "records", str(record.id)),
                "number": record.number,
                "status": record.status,
                "status_label": _status_label(request, record.status),
                "created": record.created_at.astimezone(CHINA).date().isoformat(),
                "summary": str(shown.get(first, "")) if first else "",
            }
        )
    caller = caller_of(request)
    return render(
        request,
        "forms/records.html",
        {
            "tenant": caller.tenant,
            "base": _base(request),
            "title": _text(ctx.form.content.get("title"), locale) or ctx.form.form_id,
            "cards": cards,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PER_PAGE)),
            "new_url": _form_url(request, ctx.form.form_id, "new")
            if ctx.enforcer.allowed(ctx.user.roles, f"form:{ctx.form.form_id}", "create")
            else None,
        },
    )


@tenant_endpoint()
async def new_page(request: Request) -> Response:
    ctx = await authorise(request, "create")
    if request.method == "GET":
        defaults = {k: p["default"] for k, p in ctx.form.properties.items() if "default" in p}
        return await _page(request, ctx, ctx.form, record=None, values=defaults)
    posted = await request.form()
    data = data_from_form(ctx.form, posted, ctx.rules, existing={})
    try:
        record = await create_draft_for(request, ctx, data)
    except actions.RecordInvalid as refused:
        values = await attachments.with_names(ctx.form, data, user_id=ctx.user.id, record_id=None)
        return await _page(
            request,
            ctx,
            ctx.form,
            record=None,
            values=values,
            errors=refused.errors,
            status_code=422,
        )
    if posted.get("action") == "submit":
        check_allowed(ctx.enforcer, ctx.user, f"form:{ctx.form.form_id}", "submit")
        return await _submit(request, ctx, ctx.form, record)
    return _to_record(request, ctx.form.form_id, record, "saved")


def _to_record(request: Request, form_id: str, record: Record, done: str) -> Response:
    url = _form_url(request, form_id, "records", str(record.id)) + f"?done={done}"
    return RedirectResponse(url, status_code=303)


async def _submit(
    request: Request, ctx: FormContext, form: FormDefinition, record: Record
) -> Response:
    try:
        record = await submit_for(request, ctx, record, form)
    except actions.RecordInvalid as refused:
        # The draft is saved; the page now edits it, so the next post does not add another.
        values = apply_field_rules(record.data, ctx.rules)
        return await _page(
            request, ctx, form, record=record, values=values, errors=refused.errors, status_code=422
        )
    return _to_record(request, form.form_id, record, "submitted")


@tenant_endpoint()
async def record_page(request: Request) -> Response:
    if request.method == "GET":
        ctx, record = await record_from_path(request, "read")
        form = await pinned_form(ctx, record)
        values = apply_field_rules(record.data, ctx.rules)
        approval = await record_approval(request, record, ctx.user)
        return await _page(request, ctx, form, record=record, values=values, approval=approval)
    ctx = await authorise(request, "update")
    posted = await request.form()
    submitting = posted.get("action") == "submit"
    if submitting:
        check_allowed(ctx.enforcer, ctx.user, f"form:{ctx.form.form_id}", "submit")
    record = await record_in_scope(ctx, request, for_update=True)
    form = await pinned_form(ctx, record)
    rules = ctx.rules
    revision_raw = str(posted.get("revision") or "")
    revision = int(revision_raw) if revision_raw.isdigit() else None
    shown = apply_field_rules(record.data, rules)
    patch = data_from_form(form, posted, rules, existing=record.data)
    try:
        record = await save_draft_for(request, ctx, record, form, patch, revision)
    except actions.RecordInvalid as refused:
        values = {**shown, **{k: v for k, v in patch.items() if v is not None}}
        for key in [k for k, v in patch.items() if v is None]:
            values.pop(key, None)
        values = await attachments.with_names(
            form, values, user_id=ctx.user.id, record_id=record.id
        )
        return await _page(
            request, ctx, form, record=record, values=values, errors=refused.errors, status_code=422
        )
    if submitting:
        return await _submit(request, ctx, form, record)
    return _to_record(request, form.form_id, record, "saved")


async def form_links(request: Request, user: User) -> list[dict[str, Any]]:
    """For the home page: each form the user may read, its list and (if allowed) new page."""
    active = await services_of(request).enforcer()
    if active is None:
        return []
    _, bundle, enforcer = active
    locale = locale_of(request)
    return [
        {
            "title": _text(bundle.forms[form_id].get("title"), locale) or form_id,
            "records_url": _form_url(request, form_id, "records"),
            "new_url": _form_url(request, form_id, "new") if can_create else None,
        }
        for form_id, can_create in creatable_forms(bundle, enforcer, user).items()
    ]


ROUTES = [
    Route("/forms/{form_id}/records", records_page, methods=["GET"]),
    Route("/forms/{form_id}/new", new_page, methods=["GET", "POST"]),
    Route("/forms/{form_id}/records/{record_id}", record_page, methods=["GET", "POST"]),
]
