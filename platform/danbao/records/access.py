"""The only way to reach records: scoped to the tenant (the manager) and to the caller's
data scope (here), inside the query, so a record outside the scope is as missing as one
that does not exist."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from tortoise.expressions import Q, RawSQL
from tortoise.queryset import QuerySet

from danbao.authz.enforcer import TenantEnforcer
from danbao.authz.scope_query import Dialect, ScopeFilter, Subject, data_scope_filter
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Record, User
from danbao.records.sensitive import open_record

SORTS = {"created_at", "-created_at", "number", "-number"}
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")
_ROW_PATH = re.compile(r"[a-z][a-z0-9_]{0,62}\.[a-z][a-z0-9_]{0,62}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def dialect() -> Dialect:
    return "postgres" if Record._meta.db.capabilities.dialect == "postgres" else "sqlite"


def subject_of(user: User) -> Subject:
    return Subject(user.id, user.department, tuple(user.roles))


def scope_of(enforcer: TenantEnforcer, user: User, form_id: str) -> ScopeFilter | None:
    """The filter for the records of ``form_id`` that ``user`` may see; None: none.

    Lists, counts, exports, search and single-record reads all take this one filter, so
    a list and a get can never disagree about a record.
    """
    scope = enforcer.data_scope(user.roles, f"form:{form_id}")
    return data_scope_filter(scope, subject_of(user), enforcer.compiled.departments, dialect())


def scoped(form_id: str, scope: ScopeFilter) -> QuerySet[Record]:
    """The records of ``form_id`` within ``scope`` (the manager adds the tenant)."""
    rows = Record.filter(form_id=form_id)
    if scope.annotations:
        rows = rows.annotate(**scope.annotations)
    return rows.filter(scope.q)


async def get_record(
    form_id: str,
    record_id: uuid.UUID,
    scope: ScopeFilter | None,
    *,
    for_update: bool = False,
    keys: TenantKeys | None = None,
) -> Record | None:
    """The record if it exists, belongs to ``form_id`` and lies in ``scope``; else None.

    With ``keys``, its sensitive fields come decrypted (in memory; see records.sensitive);
    without, they stay envelopes.
    """
    if scope is None:
        return None
    query = scoped(form_id, scope).filter(id=record_id)
    if for_update:
        query = query.select_for_update()
    record = await query.first()
    if record is not None and keys is not None:
        await open_record(keys, record)
    return record


@dataclass(frozen=True)
class ListQuery:
    page: int = 1
    per_page: int = 20
    status: Literal["draft", "submitted"] | None = None
    q: str = ""
    sort: str = "-created_at"
    # Equality filters: (field, value) on the JSON data, and (field, keyed hash) on the
    # search index (sensitive fields; records.sensitive.resolve_equality fills it).
    eq: tuple[tuple[str, str], ...] = ()
    hashed: tuple[tuple[str, str], ...] = ()


async def list_records(
    form_id: str,
    scope: ScopeFilter | None,
    query: ListQuery,
    search_field: str | None,
    *,
    keys: TenantKeys | None = None,
) -> tuple[list[Record], int]:
    """One page of the records in scope, and how many there are in all (with ``keys``,
    their sensitive fields decrypted)."""
    if scope is None:
        return [], 0
    rows = scoped(form_id, scope)
    if query.status is not None:
        rows = rows.filter(status=query.status)
    if query.q:
        rows = _search(rows, query.q, search_field)
    rows = _equal(rows, query)
    total = await rows.count()
    order = (query.sort, "-id") if query.sort in SORTS else ("-created_at", "-id")
    offset = (query.page - 1) * query.per_page
    items = await rows.order_by(*order).offset(offset).limit(query.per_page)
    if keys is not None:
        for record in items:
            await open_record(keys, record)
    return list(items), total


def _json_text(column: str, field: str) -> str:
    if dialect() == "postgres":
        return f"{column}->>'{field}'"
    return f"json_extract({column}, '$.{field}')"


def _equal(rows: QuerySet[Record], query: ListQuery) -> QuerySet[Record]:
    """Equality on data fields, and on keyed hashes (PostgreSQL: ``@>``, GIN-indexed).

    A row field (``shareholders.id_number``) has a list of hashes, one per distinct value
    in the record's rows: the record matches when the list holds the searched hash.
    """
    postgres = Record._meta.db.capabilities.dialect == "postgres"
    for field, _ in query.eq:
        if not _FIELD_KEY.fullmatch(field):
            raise ValueError(f"not a field key: {field!r}")
    for field, digest in query.hashed:
        if not (_FIELD_KEY.fullmatch(field) or _ROW_PATH.fullmatch(field)):
            raise ValueError(f"not a field key: {field!r}")
        if not _DIGEST.fullmatch(digest):
            raise ValueError("not a keyed hash")
    for n, (field, value) in enumerate(query.eq):
        # Validated field keys only are spelled into the SQL; values stay bound parameters.
        rows = rows.annotate(**{f"eq_{n}": RawSQL(_json_text("data", field))}).filter(
            **{f"eq_{n}": value}
        )
    for n, (field, digest) in enumerate(query.hashed):
        in_rows = "." in field
        if postgres:
            rows = rows.filter(search_index__contains={field: [digest] if in_rows else digest})
        elif in_rows:
            # SQLite: the key and the hex digest are both checked above, so both can be spelled.
            count = (
                f"(SELECT count(*) FROM json_each(search_index, '$.\"{field}\"') "  # noqa: S608
                f"WHERE value = '{digest}')"
            )
            rows = rows.annotate(**{f"ix_{n}": RawSQL(count)}).filter(**{f"ix_{n}__gt": 0})
        else:
            rows = rows.annotate(**{f"ix_{n}": RawSQL(_json_text("search_index", field))}).filter(
                **{f"ix_{n}": digest}
            )
    return rows


def _search(rows: QuerySet[Record], text: str, field: str | None) -> QuerySet[Record]:
    """The number, or the form's first string field, contains ``text`` (any case)."""
    if field is None or not _FIELD_KEY.fullmatch(field):
        return rows.filter(number__icontains=text)
    # The key is a validated field key (meta-schema pattern, re-checked above), so it
    # can be spelled into the SQL; the searched text stays a bound parameter.
    extract = _json_text("data", field)
    return rows.annotate(search_text=RawSQL(extract)).filter(
        Q(number__icontains=text) | Q(search_text__icontains=text)
    )
