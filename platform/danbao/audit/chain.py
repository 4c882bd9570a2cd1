"""Appending to and verifying a tenant's hash chain.

Each event's hash covers the previous event's hash and the event's canonical JSON, so
altering, removing or reordering any row breaks every hash after it; the head row keeps
the tip, so cutting events off the end is caught too. Events are written in the same
transaction as the change they record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, AuditHead
from danbao.logs import request_id_var
from danbao.redaction import redact
from danbao.tenancy.context import current_tenant

GENESIS_HASH = "0" * 64
_VERIFY_BATCH = 1000


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _payload(event: AuditEvent) -> dict[str, Any]:
    return {
        "tenant_id": str(event.tenant_id),
        "seq": event.seq,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": [event.actor_kind, event.actor_id],
        "action": event.action,
        "object": [event.object_type, event.object_id],
        "data": event.data,
        "request_id": event.request_id,
    }


def _hash(prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(payload)).hexdigest()


async def record_event(
    action: str,
    object_type: str,
    object_id: str,
    data: dict[str, Any] | None = None,
    *,
    sensitive_keys: frozenset[str] = frozenset(),
) -> AuditEvent:
    """Append one event for the tenant and principal in context."""
    ctx = current_tenant()
    # A JSON round trip makes the stored data and the hashed data the same values.
    clean = json.loads(json.dumps(redact(data or {}, sensitive_keys), default=str))
    event = AuditEvent(
        tenant_id=ctx.tenant_id,
        at=datetime.now(UTC),
        actor_kind=ctx.principal.kind,
        actor_id=ctx.principal.id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=clean,
        request_id=request_id_var.get(),
    )
    db: Any = AuditEvent._meta.db
    if db.capabilities.dialect == "postgres":
        if isinstance(db, TransactionalDBClient):  # the caller's transaction: one statement
            appended = await _append_in_one_statement(db, event)
        else:
            async with in_transaction():
                appended = await _append_in_one_statement(AuditEvent._meta.db, event)
        if appended:
            return event
    async with in_transaction():
        head = await AuditHead.filter().select_for_update().first()
        if head is None:
            head = await AuditHead.create(last_seq=0, last_hash=GENESIS_HASH)
        event.seq, event.prev_hash = head.last_seq + 1, head.last_hash
        event.hash = _hash(head.last_hash, _payload(event))
        await event.save()
        await AuditHead.filter(id=head.id).update(last_seq=event.seq, last_hash=event.hash)
    return event


# The head row's lock serialises a tenant's appends until the transaction commits, so the
# append is one statement: the lock is taken at the end of the caller's work and held for
# nothing but the commit (each further round trip under it would wait for the busy event
# loop while every other writer of the tenant waits for the lock). The hash is the one
# _hash computes, sha256(prev_hash "\n" canonical JSON), with the sequence number, known
# only under the lock, spliced into the canonical JSON between its two fixed halves.
APPEND = """
WITH old AS (
    SELECT id, last_seq, last_hash FROM audit_head WHERE tenant_id = $1 FOR UPDATE
), head AS (
    UPDATE audit_head AS h
       SET last_seq = old.last_seq + 1,
           last_hash = encode(sha256(convert_to(
               old.last_hash || E'\\n' || $2 || (old.last_seq + 1)::text || $3, 'UTF8')), 'hex')
      FROM old
     WHERE h.tenant_id = $1 AND h.id = old.id
 RETURNING h.last_seq AS seq, h.last_hash AS hash, old.last_hash AS prev_hash
)
INSERT INTO audit_event (id, tenant_id, seq, at, actor_kind, actor_id, action, object_type,
                         object_id, data, request_id, prev_hash, hash)
SELECT $4, $1, seq, $5, $6, $7, $8, $9, $10, $11, $12, prev_hash, hash FROM head
RETURNING seq, prev_hash, hash
"""


def append_arguments(event: AuditEvent) -> list[Any]:
    """The parameters of ``APPEND`` for ``event`` (its seq, prev_hash and hash unset)."""
    event.seq = 0
    canonical = _canonical(_payload(event)).decode()
    tail = ',"tenant_id":' + json.dumps(str(event.tenant_id)) + "}"
    if not canonical.endswith('"seq":0' + tail):  # _payload's keys no longer sort so
        raise RuntimeError("the audit payload must end with its seq and tenant_id")
    before = canonical[: -len("0" + tail)]
    return [
        event.tenant_id,
        before,
        tail,
        event.id,
        event.at,
        event.actor_kind,
        event.actor_id,
        event.action,
        event.object_type,
        event.object_id,
        json.dumps(event.data, ensure_ascii=False),
        event.request_id,
    ]


async def _append_in_one_statement(db: Any, event: AuditEvent) -> bool:
    """Append ``event`` on PostgreSQL; False when the tenant has no head row yet."""
    rows = await db.execute_query_dict(APPEND, append_arguments(event))
    if not rows:
        return False
    event.seq, event.prev_hash, event.hash = rows[0]["seq"], rows[0]["prev_hash"], rows[0]["hash"]
    return True


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} events"
        return f"audit chain broken at event #{self.broken_seq}: {self.reason}"


async def verify_chain() -> ChainReport:
    """Walk the tenant's chain from the start; report the first event that does not hold."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    async with in_transaction():
        while True:
            batch = (
                await AuditEvent.filter(seq__gte=expected_seq).order_by("seq").limit(_VERIFY_BATCH)
            )
            for event in batch:
                if event.seq != expected_seq:
                    return ChainReport(False, checked, expected_seq, "event missing")
                if event.prev_hash != prev_hash:
                    return ChainReport(False, checked, event.seq, "previous hash does not match")
                if _hash(prev_hash, _payload(event)) != event.hash:
                    return ChainReport(False, checked, event.seq, "content altered")
                prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
            if len(batch) < _VERIFY_BATCH:
                break
        head = await AuditHead.filter().first()
    last_seq = head.last_seq if head else 0
    if last_seq != checked or (head and head.last_hash != prev_hash):
        return ChainReport(False, checked, checked + 1, f"chain ends early (head at #{last_seq})")
    return ChainReport(True, checked)
