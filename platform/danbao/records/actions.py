"""Writing records: create a draft, save a draft, submit. Each runs in the caller's
transaction and appends its audit event there, so the change and its record commit or
roll back together. Refusals are exceptions; the web layer turns them into answers."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from danbao.audit import record_event
from danbao.authz.fields import FieldRules
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Record, User
from danbao.definitions import NumberingPattern
from danbao.forms import normalise
from danbao.forms.identifiers import today_in_china
from danbao.forms.kinds import RICHTEXT, kind_of
from danbao.forms.richtext import is_blank, sanitise
from danbao.records import attachments
from danbao.records.changes import audit_changes, diff_fields, not_writable
from danbao.records.definition import FormDefinition
from danbao.records.logic import LogicState
from danbao.records.messages import field_message
from danbao.records.numbering import next_number
from danbao.records.references import check_users
from danbao.records.rows import keep_masked, refused_cells
from danbao.records.sensitive import mark_open, require_open, seal
from danbao.records.validation import FieldError, validate_data

DRAFT = "draft"
SUBMITTED = "submitted"


class RecordRefused(Exception):
    """Base of the refusals below."""


class RecordInvalid(RecordRefused):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class NotADraft(RecordRefused):
    """Only drafts change; a submitted record moves on through its workflow."""


class StaleRevision(RecordRefused):
    """The caller edited an older revision than the stored one."""


def _normalised(form: FormDefinition, data: dict[str, Any]) -> dict[str, Any]:
    """Formatted strings in their canonical form (full-width digits, spaces, lower-case x);
    rich text sanitised (an editor left empty clears the field)."""
    result = dict(data)
    for key, value in data.items():
        prop = form.properties.get(key, {})
        fmt = prop.get("format")
        if isinstance(fmt, str) and isinstance(value, str):
            result[key] = normalise(fmt, value)
        elif kind_of(prop) == RICHTEXT and isinstance(value, str):
            result[key] = None if is_blank(value) else sanitise(value)
    return result


def _check_writes(
    form: FormDefinition, old: dict[str, Any], new: dict[str, Any], rules: FieldRules, locale: str
) -> None:
    refused = [
        FieldError(c.pointer, field_message("not_writable", locale, form.label(c.field, locale)))
        for c in not_writable(diff_fields(old, new), rules)
    ]
    for pointer in refused_cells(old, new, rules):
        field, _, sub = pointer.strip("/").split("/")
        title = (form.row_property(f"{field}.{sub}") or {}).get("title") or sub
        refused.append(FieldError(pointer, field_message("not_writable", locale, str(title))))
    if refused:
        raise RecordInvalid(refused)


async def _check_valid(
    form: FormDefinition,
    data: dict[str, Any],
    *,
    complete: bool,
    locale: str,
    also: Sequence[FieldError] = (),
    state: LogicState | None = None,
) -> None:
    """Refuse ``data`` with every problem at once. With the form's logic ``state``, a hidden
    field is never required (its value is already dropped), and on submit a shown field
    whose ``required_when`` holds must have a value."""
    found = {e.pointer: e for e in validate_data(form, data, complete=complete, locale=locale)}
    for error in also:  # e.g. attachment references: every problem is reported at once
        found.setdefault(error.pointer, error)
    for error in await check_users(form, data, locale=locale, skip=set(found)):
        found.setdefault(error.pointer, error)
    if state is not None:
        found = {p: e for p, e in found.items() if not state.is_hidden(p)}
        if complete:
            for pointer in state.required:
                if pointer not in found and _missing(data, pointer):
                    found[pointer] = FieldError(pointer, _required_message(form, pointer, locale))
    if found:
        raise RecordInvalid([found[p] for p in sorted(found)])


def _caller_values(form: FormDefinition, data: dict[str, Any]) -> dict[str, Any]:
    """What the caller gave, less computed fields: the server computes those itself."""
    return form.logic.without_computed(data) if form.logic.computed else data


def _with_logic(
    form: FormDefinition, data: dict[str, Any], stored: dict[str, Any]
) -> tuple[dict[str, Any], LogicState | None]:
    """The values to store by the form's logic (records.logic, docs/forms.md): computed,
    hidden ones dropped, read-only ones kept as stored; and what the conditions say."""
    logic = form.logic
    if not logic.active:
        return data, None
    result = logic.run(data)
    kept = dict(data)
    for pointer in result.state.readonly:
        name = pointer[1:]
        if name in stored:
            kept[name] = stored[name]
        else:
            kept.pop(name, None)
    if kept != data:
        result = logic.run(kept)
    return result.values, result.state


async def _rebind(
    form: FormDefinition,
    old: dict[str, Any],
    bound: attachments.Binding,
    values: dict[str, Any],
    *,
    user_id: uuid.UUID | None,
    record_id: uuid.UUID | None,
    locale: str,
) -> attachments.Binding:
    """The binding for the values the logic left: bound again only when the logic changed
    an attachment field (hid it), so files are linked and retired by what is stored."""
    keys = attachments.attachment_fields(form.properties)
    if all(values.get(k) == bound.data.get(k) for k in keys):
        bound.data = values
        return bound
    return await attachments.bind(
        form, old, values, user_id=user_id, record_id=record_id, locale=locale
    )


def _missing(values: dict[str, Any], pointer: str) -> bool:
    parts = pointer.lstrip("/").split("/")
    value: Any = values.get(parts[0])
    if len(parts) == 3:
        rows = value if isinstance(value, list) else []
        row = rows[int(parts[1])] if int(parts[1]) < len(rows) else {}
        value = row.get(parts[2]) if isinstance(row, dict) else None
    return value is None or value == "" or value == []


def _required_message(form: FormDefinition, pointer: str, locale: str) -> str:
    parts = pointer.lstrip("/").split("/")
    label = form.label(parts[0], locale, parts[2] if len(parts) == 3 else None)
    return field_message("required", locale, label)


async def create_draft(
    form: FormDefinition,
    version: int,
    data: dict[str, Any],
    *,
    user: User,
    rules: FieldRules,
    locale: str,
    keys: TenantKeys,
) -> Record:
    """The new draft, returned with its data in plaintext (stored sealed)."""
    data = _caller_values(form, {k: v for k, v in _normalised(form, data).items() if v is not None})
    bound = await attachments.bind(form, {}, data, user_id=user.id, record_id=None, locale=locale)
    _check_writes(form, {}, bound.data, rules, locale)
    values, state = _with_logic(form, bound.data, {})
    bound = await _rebind(form, {}, bound, values, user_id=user.id, record_id=None, locale=locale)
    data = bound.data
    await _check_valid(form, data, complete=False, locale=locale, also=bound.errors, state=state)
    stored, index = await seal(keys, form, data)
    record = await Record.create(
        form_id=form.form_id,
        form_version=version,
        status=DRAFT,
        data=stored,
        search_index=index,
        created_by=user.id,
        department=user.department,
    )
    record.data = data
    mark_open(record)
    await record_event(
        "record.created",
        "record",
        str(record.id),
        {"form": form.form_id, "form_version": version, "fields": sorted(data)},
    )
    await bound.apply(record.id)
    return record


async def save_draft(
    record: Record,
    form: FormDefinition,
    patch: dict[str, Any],
    *,
    rules: FieldRules,
    locale: str,
    revision: int | None,
    keys: TenantKeys,
    user_id: uuid.UUID | None = None,
) -> Record:
    """Merge ``patch`` into the draft (a null value clears the field); lock the row first.

    ``record`` must have been read with the key ring (its data in plaintext). ``user_id``
    is the editor: only their own pending uploads may be attached.
    """
    require_open(record)
    if record.status != DRAFT:
        raise NotADraft(str(record.id))
    if revision is not None and revision != record.revision:
        raise StaleRevision(str(record.id))
    merged = dict(record.data)
    computed = {name for name, key in form.logic.computed if key is None}
    for key, value in _normalised(form, patch).items():
        if key in computed:
            continue  # a caller's value for a computed field is ignored
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged = keep_masked(record.data, merged, rules)
    bound = await attachments.bind(
        form, record.data, merged, user_id=user_id, record_id=record.id, locale=locale
    )
    _check_writes(form, record.data, bound.data, rules, locale)
    values, state = _with_logic(form, bound.data, record.data)
    bound = await _rebind(
        form, record.data, bound, values, user_id=user_id, record_id=record.id, locale=locale
    )
    await _check_valid(
        form, bound.data, complete=False, locale=locale, also=bound.errors, state=state
    )
    return await _store(record, form, bound, keys)


async def amend_submitted(
    record: Record,
    form: FormDefinition,
    patch: dict[str, Any],
    *,
    rules: FieldRules,
    locale: str,
    keys: TenantKeys,
    user_id: uuid.UUID,
    context: dict[str, Any],
) -> Record:
    """Merge ``patch`` into a submitted record at an approval step (the node's write
    fields: ``rules`` makes only those writable); lock the row first.

    Checked like a save and then like a submission (the whole form must stay valid), in
    the caller's transaction, so an approval that is refused leaves the record as it was.
    ``context`` (the approval, its node) goes into the ``record.updated`` audit event.
    """
    require_open(record)
    if record.status != SUBMITTED:
        raise NotADraft(str(record.id))
    merged = dict(record.data)
    computed = {name for name, key in form.logic.computed if key is None}
    for key, value in _normalised(form, patch).items():
        if key in computed:
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged = keep_masked(record.data, merged, rules)
    bound = await attachments.bind(
        form, record.data, merged, user_id=user_id, record_id=record.id, locale=locale
    )
    _check_writes(form, record.data, bound.data, rules, locale)
    values, state = _with_logic(form, bound.data, record.data)
    bound = await _rebind(
        form, record.data, bound, values, user_id=user_id, record_id=record.id, locale=locale
    )
    await _check_valid(
        form, bound.data, complete=True, locale=locale, also=bound.errors, state=state
    )
    return await _store(record, form, bound, keys, context)


async def _store(
    record: Record,
    form: FormDefinition,
    bound: attachments.Binding,
    keys: TenantKeys,
    context: dict[str, Any] | None = None,
) -> Record:
    """Write ``bound.data`` as the record's next revision with its audit event, and link or
    retire its files (nothing when nothing changed)."""
    changes = diff_fields(record.data, bound.data)
    if not changes:
        return record
    stored, index = await seal(keys, form, bound.data)
    record.data = bound.data
    record.revision += 1
    await Record.filter(id=record.id).update(
        data=stored, search_index=index, revision=record.revision, updated_at=_now()
    )
    await record_event(
        "record.updated",
        "record",
        str(record.id),
        {
            "revision": record.revision,
            "changes": audit_changes(changes, form.sensitive_fields, form.sensitive_rows),
            **(context or {}),
        },
    )
    await bound.apply(record.id)
    return record


async def submit(
    record: Record,
    form: FormDefinition,
    pattern: NumberingPattern,
    *,
    locale: str,
    keys: TenantKeys,
) -> Record:
    """Validate the whole form, then take the next number; lock the row first.

    The form's logic runs once more (an age from an ID number may have changed since the
    draft was saved); what it changes is stored as a revision before the number is taken.
    """
    require_open(record)
    if record.status != DRAFT:
        raise NotADraft(str(record.id))
    values, state = _with_logic(form, record.data, record.data)
    bound = await _rebind(
        form,
        record.data,
        attachments.Binding(dict(record.data)),
        values,
        user_id=None,
        record_id=record.id,
        locale=locale,
    )
    await _check_valid(
        form, bound.data, complete=True, locale=locale, also=bound.errors, state=state
    )
    record = await _store(record, form, bound, keys)
    number = await next_number(form.numbering_key, pattern, today_in_china())
    now = _now()
    await Record.filter(id=record.id).update(
        number=number, status=SUBMITTED, submitted_at=now, updated_at=now
    )
    record.number, record.status, record.submitted_at, record.updated_at = (
        number,
        SUBMITTED,
        now,
        now,
    )
    await record_event("record.submitted", "record", str(record.id), {"number": number})
    return record


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
