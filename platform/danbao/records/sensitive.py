"""Sensitive fields of records: sealed when written, opened when read, searched by hash.

A form marks fields ``x-sensitive``. Their string values are stored as AES-GCM envelopes
under the tenant's data key (``danbao.crypto.fields``), and a keyed hash of each value
goes into ``Record.search_index`` for equality search. Everything above the storage sees
plaintext: the access functions open a record's data (given the key ring) and the
actions seal it again. An opened record refuses ``save()``, so plaintext cannot reach the
table through the ORM by accident.

Row fields of a repeating section (``shareholders[].id_number``) are sealed the same way,
each value in its own envelope whose associated data names ``shareholders.id_number``; their
keyed hashes go into the index as a list under that name, so an equality search finds a
record when any of its rows holds the value.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from danbao.crypto.fields import (
    DataKey,
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
    prop = form.row_property(field) if "." in field else form.properties.get(field, {})
    fmt = (prop or {}).get("format")
    return fmt if isinstance(fmt, str) else None


async def seal(
    keys: TenantKeys, form: FormDefinition, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data to store, search index) for plaintext ``data``."""
    sensitive = [f for f in form.sensitive_fields if isinstance(data.get(f), str)]
    row_fields = [f for f in form.sensitive_rows if isinstance(data.get(f), list)]
    if not sensitive and not row_fields:
        return dict(data), {}
    tenant_id = _tenant()
    data_key = await keys.current(DATA)
    index_key = await keys.current(INDEX)
    stored: dict[str, Any] = dict(data)
    index: dict[str, Any] = {}
    for field in sensitive:
        value = data[field]
        stored[field] = encrypt_value(data_key, tenant_id, FieldPath(form.form_id, field), value)
        index[field] = blind_index(index_key.key, form.form_id, field, value, _format(form, field))
    for field in row_fields:
        rows: list[Any] = []
        for row in data[field]:
            if isinstance(row, dict):
                row = dict(row)
                for sub in form.sensitive_rows[field]:
                    value = row.get(sub)
                    if isinstance(value, str):
                        path = f"{field}.{sub}"
                        row[sub] = encrypt_value(
                            data_key, tenant_id, FieldPath(form.form_id, path), value
                        )
                        digest = blind_index(
                            index_key.key, form.form_id, path, value, _format(form, path)
                        )
                        hashes = index.setdefault(path, [])
                        if digest not in hashes:
                            hashes.append(digest)
            rows.append(row)
        stored[field] = rows
    return stored, index


async def open_data(keys: TenantKeys, form_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A copy of stored ``data`` with every envelope decrypted (DecryptError if one fails)."""
    tenant_id = _tenant()

    async def opened(path: str, value: str) -> str:
        key = await keys.get(DATA, envelope_version(value))
        return decrypt_value(key, tenant_id, FieldPath(form_id, path), value)

    result = dict(data)
    for field, value in data.items():
        if is_envelope(value):
            result[field] = await opened(field, value)
        elif isinstance(value, list) and any(_sealed_row(row) for row in value):
            rows = []
            for row in value:
                if _sealed_row(row):
                    row = {
                        sub: await opened(f"{field}.{sub}", v) if is_envelope(v) else v
                        for sub, v in row.items()
                    }
                rows.append(row)
            result[field] = rows
    return result


def _sealed_row(row: Any) -> bool:
    return isinstance(row, dict) and any(is_envelope(v) for v in row.values())


def envelope_versions(data: dict[str, Any]) -> set[int]:
    """The data-key versions of every envelope in stored ``data`` (rows included)."""
    found: set[int] = set()
    for value in data.values():
        cells = (
            [value]
            if not isinstance(value, list)
            else [v for row in value if isinstance(row, dict) for v in row.values()]
        )
        found.update(envelope_version(v) for v in cells if is_envelope(v))
    return found


async def reseal(
    keys: TenantKeys, form_id: str, data: dict[str, Any], target: DataKey
) -> dict[str, Any] | None:
    """``data`` with every envelope not under ``target`` opened and sealed again under it
    (same field, same associated data), or None when all already are. The search index
    does not change: the index key is not part of a data-key rotation."""
    if envelope_versions(data) <= {target.version}:
        return None
    tenant_id = _tenant()

    async def moved(path: str, value: Any) -> Any:
        if not is_envelope(value) or envelope_version(value) == target.version:
            return value
        where = FieldPath(form_id, path)
        old = await keys.get(DATA, envelope_version(value))
        return encrypt_value(target, tenant_id, where, decrypt_value(old, tenant_id, where, value))

    result: dict[str, Any] = {}
    for field, value in data.items():
        if isinstance(value, list):
            result[field] = [
                {sub: await moved(f"{field}.{sub}", v) for sub, v in row.items()}
                if isinstance(row, dict)
                else row
                for row in value
            ]
        else:
            result[field] = await moved(field, value)
    return result


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
        if field in form.sensitive_paths:
            index_key = index_key or await keys.current(INDEX)
            digest = blind_index(index_key.key, form.form_id, field, value, _format(form, field))
            hashed.append((field, digest))
            continue
        prop = form.properties.get(field)
        if not _FIELD_KEY.fullmatch(field) or prop is None or prop.get("type") != "string":
            raise UnknownField(field)
        fmt = _format(form, field)
        plain.append((field, normalise(fmt, value) if fmt else value))
    return replace(query, eq=tuple(plain), hashed=tuple(hashed))
