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
from danbao.records import attachments
from danbao.records.changes import audit_changes, diff_fields, not_writable
from danbao.records.definition import FormDefinition
from danbao.records.messages import field_message
from danbao.records.numbering import next_number
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
    """Formatted strings in their canonical form (full-width digits, spaces, lower-case x)."""
    result = dict(data)
    for key, value in data.items():
        fmt = form.properties.get(key, {}).get("format")
        if isinstance(fmt, str) and isinstance(value, str):
            result[key] = normalise(fmt, value)
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


def _check_valid(
    form: FormDefinition,
    data: dict[str, Any],
    *,
    complete: bool,
    locale: str,
    also: Sequence[FieldError] = (),
) -> None:
    found = {e.pointer: e for e in validate_data(form, data, complete=complete, locale=locale)}
    for error in also:  # e.g. attachment references: every problem is reported at once
        found.setdefault(error.pointer, error)
    if found:
        raise RecordInvalid([found[p] for p in sorted(found)])


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
    data = _normalised(form, {k: v for k, v in data.items() if v is not None})
    bound = await attachments.bind(form, {}, data, user_id=user.id, record_id=None, locale=locale)
    data = bound.data
    _check_writes(form, {}, data, rules, locale)
    _check_valid(form, data, complete=False, locale=locale, also=bound.errors)
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
    for key, value in _normalised(form, patch).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged = keep_masked(record.data, merged, rules)
    bound = await attachments.bind(
        form, record.data, merged, user_id=user_id, record_id=record.id, locale=locale
    )
    merged = bound.data
    _check_writes(form, record.data, merged, rules, locale)
    _check_valid(form, merged, complete=False, locale=locale, also=bound.errors)
    changes = diff_fields(record.data, merged)
    if not changes:
        return record
    stored, index = await seal(keys, form, merged)
    record.data = merged
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
        },
    )
    await bound.apply(record.id)
    return record


async def submit(
    record: Record, form: FormDefinition, pattern: NumberingPattern, *, locale: str
) -> Record:
    """Validate the whole form, then take the next number; lock the row first."""
    require_open(record)
    if record.status != DRAFT:
        raise NotADraft(str(record.id))
    _check_valid(form, record.data, complete=True, locale=locale)
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
