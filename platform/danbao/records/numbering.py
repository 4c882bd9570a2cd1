"""Per-tenant document numbers (``DB-2026-00001``) that never repeat and never skip.

A sequence is a row per (tenant, name, period). Taking the next value is one statement
inside the caller's transaction: an upsert that creates the row on first use and
otherwise increments it, returning the new value. The row stays locked until the
caller commits, so concurrent submissions queue on it and get consecutive values; a
rolled-back submission gives its value back. Two first uses racing on the insert meet
on the unique key (tenant_id, name, period): the loser's insert turns into the update,
so no retry loop is needed.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from danbao.db.models import NumberSequence
from danbao.definitions import NumberingPattern
from danbao.ids import new_id
from danbao.tenancy.context import current_tenant

ALL_TIME = "all"

_UPSERT = {
    "postgres": (
        "INSERT INTO number_sequence (id, tenant_id, name, period, last_value) "
        "VALUES ($1, $2, $3, $4, 1) ON CONFLICT (tenant_id, name, period) "
        "DO UPDATE SET last_value = number_sequence.last_value + 1 RETURNING last_value"
    ),
    "sqlite": (
        "INSERT INTO number_sequence (id, tenant_id, name, period, last_value) "
        "VALUES (?, ?, ?, ?, 1) ON CONFLICT (tenant_id, name, period) "
        "DO UPDATE SET last_value = number_sequence.last_value + 1 RETURNING last_value"
    ),
}


def period_of(pattern: NumberingPattern, on: datetime.date) -> str:
    """Numbers that carry the year restart each year; others run for ever."""
    return str(on.year) if pattern.per_year else ALL_TIME


async def next_value(name: str, period: str) -> int:
    """The next value of the tenant's sequence ``name`` in ``period`` (call in a transaction)."""
    tenant_id = current_tenant().tenant_id
    db: Any = NumberSequence._meta.db  # the connection of the transaction in progress
    sql = _UPSERT["postgres" if db.capabilities.dialect == "postgres" else "sqlite"]
    ident: Any = new_id()
    params: list[Any] = [ident, tenant_id, name, period]
    if db.capabilities.dialect != "postgres":
        params = [str(p) for p in params]  # SQLite keeps UUIDs as text
    # execute_query_dict: execute_query drops the rows an INSERT … RETURNING gives.
    rows = await db.execute_query_dict(sql, params)
    return int(rows[0]["last_value"])


async def next_number(name: str, pattern: NumberingPattern, on: datetime.date) -> str:
    """The next document number of sequence ``name`` formatted by ``pattern``."""
    return pattern.format(await next_value(name, period_of(pattern, on)), on)


class NoNumberingRule(LookupError):
    """tenant.json has no numbering rule for the key a form names."""


@lru_cache(maxsize=512)
def _parsed(source: str) -> NumberingPattern:
    return NumberingPattern.parse(source)


def pattern_for(tenant_settings: dict[str, Any], key: str) -> NumberingPattern:
    """The rule ``key`` of tenant.json ``numbering`` (validated when the bundle was published)."""
    source = tenant_settings.get("numbering", {}).get(key)
    if not isinstance(source, str):
        raise NoNumberingRule(key)
    return _parsed(source)
