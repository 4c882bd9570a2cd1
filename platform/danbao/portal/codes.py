"""One-time sign-in codes: six digits, kept only as a keyed hash, valid ten minutes, five
tries, used once; a new code retires the destination's earlier ones. Sending is limited per
destination (one a minute, five an hour) and per client address (twenty an hour), counted
from the table itself so every process agrees without Redis."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from danbao.audit import record_event
from danbao.auth.secrets import same
from danbao.crypto.fields import blind_index
from danbao.crypto.tenant_keys import INDEX, TenantKeys
from danbao.db.models import ApplicantCode
from danbao.ids import new_id

from .identity import Destination

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)
PER_DESTINATION_HOUR = 5
PER_ADDRESS_HOUR = 20
KEEP = timedelta(days=1)


class CodeRefused(Exception):
    """``code``: throttled | code_invalid | code_expired | code_exhausted."""

    def __init__(self, code: str, retry_after: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class Issued:
    row: ApplicantCode
    code: str  # in clear only here: handed to the channel (and a demo page), never stored


def _now() -> datetime:
    return datetime.now(UTC)


async def _code_hash(keys: TenantKeys, code_id: uuid.UUID, code: str) -> str:
    # Keyed, and bound to its row: a leaked table does not give a million-guess table.
    index_key = await keys.current(INDEX)
    return blind_index(index_key.key, "portal", "code", f"{code_id}:{code}")


async def issue(
    keys: TenantKeys, destination: Destination, digest: str, sealed: str, *, client: str
) -> Issued:
    """A new code for ``destination``, or :class:`CodeRefused` ``throttled``."""
    now = _now()
    hour_ago = now - timedelta(hours=1)
    recent = await ApplicantCode.filter(destination_hash=digest, created_at__gte=hour_ago).order_by(
        "-created_at"
    )
    if recent and now - recent[0].created_at < RESEND_AFTER:
        wait = RESEND_AFTER - (now - recent[0].created_at)
        await _refused(destination, "destination_minute")
        raise CodeRefused("throttled", int(wait.total_seconds()) + 1)
    if len(recent) >= PER_DESTINATION_HOUR:
        await _refused(destination, "destination_hour")
        raise CodeRefused("throttled", 3600)
    if await ApplicantCode.filter(ip=client, created_at__gte=hour_ago).count() >= PER_ADDRESS_HOUR:
        await _refused(destination, "address_hour")
        raise CodeRefused("throttled", 3600)
    # Earlier codes of this destination stop working: only the newest one is in anyone's hands.
    await ApplicantCode.filter(destination_hash=digest, used_at=None, expires_at__gt=now).update(
        expires_at=now
    )
    # What no limit counts any more goes: a destination keeps at most a day of codes.
    await ApplicantCode.filter(destination_hash=digest, created_at__lt=now - KEEP).delete()
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    code_id = new_id()
    row = await ApplicantCode.create(
        id=code_id,
        destination_hash=digest,
        destination_sealed=sealed,
        channel=destination.channel,
        code_hash=await _code_hash(keys, code_id, code),
        expires_at=now + CODE_TTL,
        ip=client[:45],
    )
    await record_event(
        "portal.code_sent",
        "applicant_code",
        str(row.id),
        {"channel": destination.channel, "destination": destination.masked},
    )
    return Issued(row, code)


async def _refused(destination: Destination, why: str) -> None:
    await record_event(
        "portal.code_throttled",
        "applicant_code",
        "-",
        {"destination": destination.masked, "limit": why},
    )


async def redeem(keys: TenantKeys, code_id: str, code: str) -> ApplicantCode:
    """Use the code ``code_id`` with ``code`` (row locked), or :class:`CodeRefused`.

    A wrong code counts one attempt, committed with the answer (the caller answers, it
    does not raise), so a sixth guess finds the code exhausted.
    """
    try:
        key = uuid.UUID(code_id)
    except ValueError as exc:
        raise CodeRefused("code_invalid") from exc
    row = await ApplicantCode.filter(id=key).select_for_update().first()
    now = _now()
    if row is None or row.used_at is not None:
        raise CodeRefused("code_invalid")
    if row.expires_at <= now:
        raise CodeRefused("code_expired")
    if row.attempts >= MAX_ATTEMPTS:
        raise CodeRefused("code_exhausted")
    given = "".join(code.split())
    if not (given.isdigit() and same(await _code_hash(keys, row.id, given), row.code_hash)):
        await ApplicantCode.filter(id=row.id).update(attempts=row.attempts + 1)
        await record_event(
            "portal.sign_in_failed", "applicant_code", str(row.id), {"attempt": row.attempts + 1}
        )
        raise CodeRefused("code_exhausted" if row.attempts + 1 >= MAX_ATTEMPTS else "code_invalid")
    await ApplicantCode.filter(id=row.id).update(used_at=now, attempts=row.attempts + 1)
    return row
