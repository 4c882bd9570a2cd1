"""Attachments of records: an upload stays pending for its uploader until a saved record
references it, and is then read exactly like that record.

- ``store_upload`` keeps a checked file: the bytes under the tenant's prefix in object
  storage (``attachments/<id>``), a ``StoredFile`` row with its facts, an ``Attachment`` row
  naming the form and field, pending (usable only by the uploader) until it expires.
- ``bind`` turns the references a caller sends in a record's data into canonical ones
  (``{id, name, size, content_type, sha256}`` read from the table, never trusted from the
  caller) and refuses, by JSON pointer, any reference that is unknown, expired, of another
  tenant, user, form or field; ``Binding.apply`` then links the new ones to the record and
  retires the ones the record no longer holds.
- Retired and expired uploads are removed by the ``attachments.purge`` job
  (``records.attachment_purge``).

Every change appends its audit event in the caller's transaction.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import IO, Any

from danbao.audit import record_event
from danbao.db.models import Attachment, StoredFile
from danbao.definitions.attachments import AttachmentSpec, attachment_fields
from danbao.ids import new_id
from danbao.records.definition import FormDefinition
from danbao.records.validation import FieldError, pointer_of
from danbao.storage import ObjectStore

PENDING_TTL = datetime.timedelta(hours=24)
KEY_PREFIX = "attachments/"

# reason -> (zh-CN, en); {label} the field, {limit} a limit, {name} the file's name.
_TEXTS = {
    "unknown": (
        "{label}：附件不存在、已过期或不属于此字段",
        "{label}: the attachment does not exist, has expired or is not of this field",
    ),
    "reference": (
        "{label}：应为附件引用（含 id 的对象）",
        "{label}: expected an attachment reference (an object with an id)",
    ),
    "duplicate": ("{label}：同一附件出现了两次", "{label}: the same attachment appears twice"),
    "too_many": ("{label}最多{limit}个文件", "{label} takes at most {limit} files"),
    "too_large": (
        "{label}：文件“{name}”超过 {limit} 的大小上限",
        "{label}: “{name}” is larger than the {limit} limit",
    ),
    "type": (
        "{label}：文件“{name}”的类型不允许或内容与扩展名不符（可接受：{limit}）",
        "{label}: “{name}” is not an allowed type or its content does not match its extension "
        "(accepted: {limit})",
    ),
    "empty": ("{label}：文件“{name}”是空文件", "{label}: “{name}” is empty"),
    "no_file": ("{label}：请选择要上传的文件", "{label}: choose a file to upload"),
}


def message(reason: str, locale: str, label: str, limit: object = "", name: str = "") -> str:
    zh, en = _TEXTS[reason]
    return (en if locale == "en" else zh).format(label=label, limit=limit, name=name)


def object_key(attachment_id: uuid.UUID) -> str:
    return f"{KEY_PREFIX}{attachment_id}"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def reference(attachment: Attachment, file: StoredFile) -> dict[str, Any]:
    """What a record holds for one attachment: facts, never the bytes."""
    return {
        "id": str(attachment.id),
        "name": file.filename,
        "size": file.size,
        "content_type": file.content_type,
        "sha256": file.sha256,
    }


def spec_for(form: FormDefinition, field_key: str) -> AttachmentSpec | None:
    return attachment_fields(form.properties).get(field_key)


# ---------------------------------------------------------------- uploads


@dataclass(frozen=True)
class CheckedFile:
    """A received file that passed the field's limits, spooled and hashed."""

    name: str
    size: int
    sha256: str
    content_type: str
    source: IO[bytes]


async def store_upload(
    store: ObjectStore,
    form: FormDefinition,
    field_key: str,
    upload: CheckedFile,
    *,
    user_id: uuid.UUID,
) -> dict[str, Any]:
    """Keep ``upload`` as a pending attachment of ``field_key``; returns its reference.

    The bytes go first: should the transaction roll back afterwards, an object without a
    row is left, which the purge job removes (never a row without its object).
    """
    attachment_id = new_id()
    key = object_key(attachment_id)
    await store.put_file(key, upload.source, content_type=upload.content_type, sha256=upload.sha256)
    file = await StoredFile.create(
        key=key,
        filename=upload.name,
        content_type=upload.content_type,
        size=upload.size,
        sha256=upload.sha256,
        created_by=str(user_id),
    )
    attachment = await Attachment.create(
        id=attachment_id,
        file_id=file.id,
        form_id=form.form_id,
        field_key=field_key,
        uploaded_by=user_id,
        expires_at=now() + PENDING_TTL,
    )
    await record_event(
        "attachment.uploaded",
        "attachment",
        str(attachment.id),
        {
            "form": form.form_id,
            "field": field_key,
            "size": upload.size,
            "content_type": upload.content_type,
            "sha256": upload.sha256,
        },
    )
    return reference(attachment, file)


def usable_pending(attachment: Attachment, user_id: uuid.UUID | None) -> bool:
    """A pending upload serves its uploader only, and only until it expires."""
    return attachment.record_id is None and _pending_for(attachment, user_id, now())


async def withdraw(attachment: Attachment) -> None:
    """The uploader takes back a pending upload: it expires now and the purge removes it."""
    await Attachment.filter(id=attachment.id, record_id=None).update(expires_at=now())
    await record_event(
        "attachment.deleted",
        "attachment",
        str(attachment.id),
        {"form": attachment.form_id, "field": attachment.field_key, "reason": "withdrawn"},
    )


async def file_of(attachment: Attachment) -> StoredFile | None:
    return await StoredFile.filter(id=attachment.file_id).first()


# ---------------------------------------------------------------- references in records


def _ids(value: Any) -> list[str]:
    """The ids of the references a stored field holds (canonical, so well formed)."""
    if not isinstance(value, list):
        return []
    return [str(item["id"]) for item in value if isinstance(item, dict) and "id" in item]


def _given_id(item: Any) -> uuid.UUID | None:
    """An id from ``{"id": …}`` (or a bare id string); None when it is not one."""
    raw = item.get("id") if isinstance(item, dict) else item
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@dataclass
class Binding:
    """The data with canonical references, what was refused, and what saving changes."""

    data: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    link: list[Attachment] = field(default_factory=list)
    retire: list[Attachment] = field(default_factory=list)

    async def apply(self, record_id: uuid.UUID) -> None:
        """Link the new uploads to the saved record and retire the dropped ones (call after
        the record is written, in the same transaction)."""
        at = now()
        for attachment in self.link:
            await Attachment.filter(id=attachment.id, record_id=None).update(
                record_id=record_id, linked_at=at, expires_at=None
            )
            await record_event(
                "attachment.linked",
                "attachment",
                str(attachment.id),
                {
                    "form": attachment.form_id,
                    "field": attachment.field_key,
                    "record": str(record_id),
                },
            )
        for attachment in self.retire:
            await Attachment.filter(id=attachment.id, record_id=record_id).update(
                record_id=None, expires_at=at
            )
            await record_event(
                "attachment.deleted",
                "attachment",
                str(attachment.id),
                {
                    "form": attachment.form_id,
                    "field": attachment.field_key,
                    "record": str(record_id),
                    "reason": "removed from the record",
                },
            )


async def bind(
    form: FormDefinition,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    user_id: uuid.UUID | None,
    record_id: uuid.UUID | None,
    locale: str,
) -> Binding:
    """Check and canonicalise the attachment references of ``new`` (a record's whole data
    after the edit; ``old`` before it). A value that is not a list is left for the schema
    validation to refuse."""
    specs = attachment_fields(form.properties)
    binding = Binding(dict(new))
    if not specs:
        return binding
    wanted = {
        given
        for key in specs
        if isinstance(new.get(key), list)
        for given in map(_given_id, new[key])
        if given is not None
    }
    kept = {str(i) for key in specs for i in _ids(old.get(key))}
    # Locked: the purge job must not remove an upload this save is about to link.
    rows = (
        {a.id: a for a in await Attachment.filter(id__in=list(wanted)).select_for_update()}
        if wanted
        else {}
    )
    files = (
        {f.id: f for f in await StoredFile.filter(id__in=[a.file_id for a in rows.values()])}
        if rows
        else {}
    )
    at = now()
    for key, spec in specs.items():
        value = new.get(key)
        label = form.label(key, locale)
        if not isinstance(value, list):
            continue
        if len(value) > spec.max_count:
            binding.errors.append(
                FieldError(pointer_of([key]), message("too_many", locale, label, spec.max_count))
            )
        canonical: list[Any] = []
        seen: set[uuid.UUID] = set()
        for index, item in enumerate(value):
            pointer = pointer_of([key, index])
            given = _given_id(item)
            if given is None:
                binding.errors.append(FieldError(pointer, message("reference", locale, label)))
                continue
            row = rows.get(given)
            file = files.get(row.file_id) if row is not None else None
            if (
                row is None
                or file is None
                or not _usable(row, form, key, user_id=user_id, record_id=record_id, at=at)
            ):
                binding.errors.append(FieldError(pointer, message("unknown", locale, label)))
                continue
            if given in seen:
                binding.errors.append(FieldError(pointer, message("duplicate", locale, label)))
                continue
            seen.add(given)
            canonical.append(reference(row, file))
            if row.record_id is None:
                binding.link.append(row)
        binding.data[key] = canonical
    still = {str(i) for key in specs for i in _ids(binding.data.get(key))}
    dropped = kept - still
    if dropped and record_id is not None and not binding.errors:
        binding.retire = list(await Attachment.filter(id__in=sorted(dropped), record_id=record_id))
    return binding


def _usable(
    row: Attachment,
    form: FormDefinition,
    key: str,
    *,
    user_id: uuid.UUID | None,
    record_id: uuid.UUID | None,
    at: datetime.datetime,
) -> bool:
    """Of this form and field, and either this record's or the caller's live upload."""
    if row.form_id != form.form_id or row.field_key != key:
        return False
    if row.record_id is not None:
        return row.record_id == record_id
    return _pending_for(row, user_id, at)


async def with_names(
    form: FormDefinition,
    data: dict[str, Any],
    *,
    user_id: uuid.UUID | None,
    record_id: uuid.UUID | None,
) -> dict[str, Any]:
    """``data`` with the bare references a refused form posted (``{"id": …}``) filled in
    from the table, so the form shows the files again by name. Ids the caller may not
    use are left as they came: nothing about another user's file is shown."""
    specs = attachment_fields(form.properties)
    bare = {
        given
        for key in specs
        if isinstance(data.get(key), list)
        for item in data[key]
        if isinstance(item, dict) and "name" not in item and (given := _given_id(item))
    }
    if not bare:
        return data
    rows = {a.id: a for a in await Attachment.filter(id__in=list(bare))}
    files = {f.id: f for f in await StoredFile.filter(id__in=[a.file_id for a in rows.values()])}
    at = now()
    named = dict(data)
    for key in specs:
        if not isinstance(data.get(key), list):
            continue
        items = []
        for item in data[key]:
            row = rows.get(_given_id(item) or uuid.UUID(int=0))
            file = files.get(row.file_id) if row is not None else None
            if (
                row is not None
                and file is not None
                and _usable(row, form, key, user_id=user_id, record_id=record_id, at=at)
            ):
                items.append(reference(row, file))
            else:
                items.append(item)
        named[key] = items
    return named


def _pending_for(row: Attachment, user_id: uuid.UUID | None, at: datetime.datetime) -> bool:
    return (
        user_id is not None
        and row.uploaded_by == user_id
        and row.expires_at is not None
        and row.expires_at > at
    )
