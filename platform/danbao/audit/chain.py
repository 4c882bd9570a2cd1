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
    async with in_transaction():
        head = await AuditHead.filter().select_for_update().first()
        if head is None:
            head = await AuditHead.create(last_seq=0, last_hash=GENESIS_HASH)
        event = AuditEvent(
            tenant_id=ctx.tenant_id,
            seq=head.last_seq + 1,
            at=datetime.now(UTC),
            actor_kind=ctx.principal.kind,
            actor_id=ctx.principal.id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            data=clean,
            request_id=request_id_var.get(),
            prev_hash=head.last_hash,
        )
        event.hash = _hash(head.last_hash, _payload(event))
        await event.save()
        await AuditHead.filter(id=head.id).update(last_seq=event.seq, last_hash=event.hash)
    return event


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
