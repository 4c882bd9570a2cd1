"""The hash chain: intact after real changes, and broken by any tampering."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from danbao.audit import record_event, verify_chain
from danbao.db.models import AuditEvent
from danbao.tenancy.context import tenant_scope

from .conftest import TenantFixture


async def _verify(tenant: TenantFixture):  # type: ignore[no-untyped-def]
    with tenant_scope(tenant.context):
        return await verify_chain()


async def test_chain_of_real_changes_verifies(
    tenants: dict[str, TenantFixture], app: object
) -> None:
    report = await _verify(tenants["alpha"])
    assert report.ok, report.describe()
    assert report.checked >= 3  # tenant created, definitions published, users created


async def test_secrets_never_reach_the_audit_trail(
    tenants: dict[str, TenantFixture], app: object
) -> None:
    with tenant_scope(tenants["beta"].context):
        event = await record_event(
            "test.secret",
            "thing",
            "1",
            {"password": "hunter2-secret", "nested": {"api_token": "t"}},
        )
        async with in_transaction():
            stored = await AuditEvent.get_in_tenant(event.id)
    assert stored is not None
    assert "hunter2" not in json.dumps(stored.data)
    assert stored.data["nested"]["api_token"] == "[redacted]"


async def test_events_of_one_transaction_roll_back_with_it(
    tenants: dict[str, TenantFixture], app: object
) -> None:
    beta = tenants["beta"]
    before = (await _verify(beta)).checked
    with tenant_scope(beta.context), pytest.raises(RuntimeError):
        async with in_transaction():
            await record_event("test.doomed", "thing", "1")
            raise RuntimeError("the change failed")
    after = await _verify(beta)
    assert after.ok and after.checked == before


async def test_concurrent_appends_make_one_unbroken_chain(
    tenants: dict[str, TenantFixture], app: object
) -> None:
    """Writers of one tenant queue on the head row; each event links to the one before."""
    alpha = tenants["alpha"]
    before = (await _verify(alpha)).checked

    async def change(i: int) -> None:
        with tenant_scope(alpha.context):
            async with in_transaction():
                await record_event("test.parallel", "thing", str(i), {"i": i, "名称": "担保"})
                await record_event("test.parallel", "thing", str(i), {"step": 2})

    await asyncio.gather(*(change(i) for i in range(16)))
    report = await _verify(alpha)
    assert report.ok, report.describe()
    assert report.checked == before + 32


async def test_tampering_is_detected(
    tenants: dict[str, TenantFixture], pg_owner: asyncpg.Connection, app: object
) -> None:
    gamma = tenants["gamma"]
    with tenant_scope(gamma.context):
        for i in range(3):
            await record_event("test.step", "thing", str(i), {"i": i})
    assert (await _verify(gamma)).ok

    # Altered content: the DBA (superuser, RLS bypassed) edits event #2.
    original = await pg_owner.fetchval(
        "SELECT data::text FROM audit_event WHERE tenant_id = $1 AND seq = 2", gamma.id
    )
    await pg_owner.execute(
        "UPDATE audit_event SET data = '{\"forged\": true}' WHERE tenant_id = $1 AND seq = 2",
        gamma.id,
    )
    report = await _verify(gamma)
    assert not report.ok and report.broken_seq == 2 and "altered" in report.reason
    await pg_owner.execute(
        "UPDATE audit_event SET data = $2::jsonb WHERE tenant_id = $1 AND seq = 2",
        gamma.id,
        original,
    )
    assert (await _verify(gamma)).ok

    # A removed event in the middle.
    last = await pg_owner.fetchval(
        "SELECT max(seq) FROM audit_event WHERE tenant_id = $1", gamma.id
    )
    row = await pg_owner.fetchrow(
        "SELECT * FROM audit_event WHERE tenant_id = $1 AND seq = $2", gamma.id, last - 1
    )
    await pg_owner.execute(
        "DELETE FROM audit_event WHERE tenant_id = $1 AND seq = $2", gamma.id, last - 1
    )
    report = await _verify(gamma)
    assert not report.ok and report.broken_seq == last - 1

    # Put it back; then cut the tail instead.
    await _reinsert(pg_owner, row)
    assert (await _verify(gamma)).ok
    tail = await pg_owner.fetchrow(
        "SELECT * FROM audit_event WHERE tenant_id = $1 AND seq = $2", gamma.id, last
    )
    await pg_owner.execute(
        "DELETE FROM audit_event WHERE tenant_id = $1 AND seq = $2", gamma.id, last
    )
    report = await _verify(gamma)
    assert not report.ok and "ends early" in report.reason
    await _reinsert(pg_owner, tail)
    assert (await _verify(gamma)).ok


async def _reinsert(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    columns = list(row.keys())
    placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
    await conn.execute(
        f"INSERT INTO audit_event ({', '.join(columns)}) VALUES ({placeholders})", *row.values()
    )
