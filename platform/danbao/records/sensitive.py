"""Sensitive fields of records: sealed when written, opened when read, searched by hash.

A form marks fields ``x-sensitive``. Their string values are stored as AES-GCM envelopes
under the tenant's data key (``danbao.crypto.fields``), and a keyed hash of each value
goes into ``Record.search_index`` for equality search. Everything above the storage sees
plaintext: the access functions open a record's data (given the key ring) and the
actions seal it again. An opened record refuses ``save()``, so plaintext cannot reach the
table through the ORM by accident.

Limitation: only top-level string fields are sealed; a sensitive field inside rows of an
array is stored as given (the starter forms have none).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from danbao.crypto.fields import (
    FieldPath,
    blind_index,
    decrypt_value,
    encrypt_value,
    envelope_version,
    is_envelope,
)
from danbao.crypto.tenant_keys import DATA, INDEX, TenantKeys
from danbao.db.models import Record
from danbao.forms import normalise
from danbao.records.definition import FormDefinition
from danbao.tenancy.context import current_tenant

if TYPE_CHECKING:
    from danbao.records.access import ListQuery

_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")


class UnknownField(ValueError):
    """An equality filter names a field the form does not have (or cannot be compared)."""


def _tenant() -> str:
    return str(current_tenant().tenant_id)


def _format(form: FormDefinition, field: str) -> str | None:
    fmt = form.properties.get(field, {}).get("format")
    return fmt if isinstance(fmt, str) else None


async def seal(
    keys: TenantKeys, form: FormDefinition, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(data to store, search index) for plaintext ``data``."""
    sensitive = [f for f in form.sensitive_fields if isinstance(data.get(f), str)]
    if not sensitive:
        return dict(data), {}
    tenant_id = _tenant()
    data_key = await keys.current(DATA)
    index_key = await keys.current(INDEX)
    stored, index = dict(data), {}
    for field in sensitive:
        value = data[field]
        stored[field] = encrypt_value(data_key, tenant_id, FieldPath(form.form_id, field), value)
        index[field] = blind_index(index_key.key, form.form_id, field, value, _format(form, field))
    return stored, index


async def open_data(keys: TenantKeys, form_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A copy of stored ``data`` with every envelope decrypted (DecryptError if one fails)."""
    tenant_id = _tenant()
    opened = dict(data)
    for field, value in data.items():
        if is_envelope(value):
            key = await keys.get(DATA, envelope_version(value))
            opened[field] = decrypt_value(key, tenant_id, FieldPath(form_id, field), value)
    return opened


async def open_record(keys: TenantKeys, record: Record) -> Record:
    """The record with its data in plaintext, in memory only (``save()`` then refuses)."""
    if not getattr(record, "_opened", False):
        record.data = await open_data(keys, record.form_id, record.data)
        record._opened = True
    return record


def mark_open(record: Record) -> Record:
    record._opened = True
    return record


def require_open(record: Record) -> None:
    if not getattr(record, "_opened", False):
        raise RuntimeError("record data is still sealed: read it with the key ring first")


async def resolve_equality(keys: TenantKeys, form: FormDefinition, query: ListQuery) -> ListQuery:
    """Move equality filters on sensitive fields to their keyed hashes; normalise the rest."""
    if not query.eq:
        return query
    plain: list[tuple[str, str]] = []
    hashed: list[tuple[str, str]] = []
    index_key = None
    for field, value in query.eq:
        prop = form.properties.get(field)
        if not _FIELD_KEY.fullmatch(field) or prop is None or prop.get("type") != "string":
            raise UnknownField(field)
        fmt = _format(form, field)
        if field in form.sensitive_fields:
            index_key = index_key or await keys.current(INDEX)
            hashed.append((field, blind_index(index_key.key, form.form_id, field, value, fmt)))
        else:
            plain.append((field, normalise(fmt, value) if fmt else value))
    return replace(query, eq=tuple(plain), hashed=tuple(hashed))
