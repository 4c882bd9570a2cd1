"""Signing in with an e-mail and password: throttled per address, locked per account."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from danbao.audit import record_event
from danbao.auth.passwords import hash_password, needs_rehash, verify_password
from danbao.auth.throttle import Throttle
from danbao.db.models import User

# Failed attempts per client address within the throttle's window.
MAX_FAILURES_PER_ADDRESS = 30
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lockout_seconds: int

    def locked_until(self, failures: int, now: datetime) -> datetime | None:
        """When an account with ``failures`` consecutive failures unlocks (None: not locked)."""
        if failures < self.max_failures:
            return None
        return now + timedelta(seconds=self.lockout_seconds)


class LoginRefused(Exception):
    """Why a sign-in failed; ``code`` is stable for clients, the message is for people."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    """The normalised address, or ValueError; deliberately loose (delivery proves the rest)."""
    email = normalise_email(email)
    # ".invalid" never receives mail (RFC 2606); the portal's owner identities live there.
    if len(email) > 254 or not _EMAIL_RE.match(email) or email.endswith(".invalid"):
        raise ValueError(f"not an e-mail address: {email!r}")
    return email


async def sign_in(
    email: str, password: str, *, client: str, policy: LoginPolicy, throttle: Throttle
) -> User:
    """Return the user, or raise :class:`LoginRefused`. Runs inside the request transaction."""
    email = normalise_email(email)
    throttle_key = f"login:{client}"
    if await throttle.count(throttle_key) >= MAX_FAILURES_PER_ADDRESS:
        await record_event("auth.throttled", "client", client, {"email": email})
        raise LoginRefused("throttled", "too many sign-in attempts from this address", 60)
    user = await User.filter(email=email).first()
    now = datetime.now(UTC)
    if user is not None and user.locked_until and user.locked_until > now:
        await record_event("auth.login_refused_locked", "user", str(user.id), {"email": email})
        retry = int((user.locked_until - now).total_seconds()) + 1
        raise LoginRefused("locked", "account locked after repeated failures", retry)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        await throttle.hit(throttle_key)
        await _record_failure(user, email, policy, now)
        raise LoginRefused("invalid_credentials", "e-mail or password is wrong")
    updates: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
    if needs_rehash(user.password_hash):
        updates["password_hash"] = hash_password(password)
    await User.filter(id=user.id).update(**updates)
    await record_event("auth.login", "user", str(user.id), {"email": email})
    return user


async def _record_failure(
    user: User | None, email: str, policy: LoginPolicy, now: datetime
) -> None:
    if user is None:
        await record_event("auth.login_failed", "user", "-", {"email": email})
        return
    # The caller answers 401 as a normal response, so this count commits with it.
    failures = user.failed_logins + 1
    locked_until = policy.locked_until(failures, now)
    await User.filter(id=user.id).update(failed_logins=failures, locked_until=locked_until)
    action = "auth.locked" if locked_until else "auth.login_failed"
    await record_event(action, "user", str(user.id), {"email": email, "failures": failures})
