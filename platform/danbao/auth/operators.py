"""Operators as identities: creation, sign-in with the tenants' lockout rules, sessions.

Operators belong to no tenant, so their sign-ins, failures and lockouts go to the JSON
logs (``danbao.ops``) rather than to an audit chain. Every function here touches only
the global ``operator`` and ``operator_session`` tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from danbao.auth.login import (
    MAX_FAILURES_PER_ADDRESS,
    LoginPolicy,
    LoginRefused,
    check_email,
    normalise_email,
)
from danbao.auth.passwords import check_strength, hash_password, needs_rehash, verify_password
from danbao.auth.secrets import new_token, token_hash
from danbao.auth.throttle import Throttle
from danbao.db.models import Operator, OperatorSession

log = logging.getLogger("danbao.ops")


class OperatorExists(ValueError):
    pass


async def create_operator(email: str, name: str, password: str) -> Operator:
    """Create an operator. Needs the owner connection: the serving role cannot insert them."""
    email = check_email(email)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("operator name: 1-100 characters")
    check_strength(password)
    if await Operator.filter(email=email).exists():
        raise OperatorExists(f"operator {email!r} already exists")
    operator = await Operator.create(email=email, name=name, password_hash=hash_password(password))
    log.info("operator.created", extra={"operator": email})
    return operator


async def operator_sign_in(
    email: str, password: str, *, client: str, policy: LoginPolicy, throttle: Throttle
) -> Operator:
    """Return the operator or raise :class:`LoginRefused`; run it inside a transaction the
    caller commits even on refusal, so failure counts and lockouts stick."""
    email = normalise_email(email)
    # A key of its own: tenant sign-ins from the same address do not lock operators out.
    throttle_key = f"ops-login:{client}"
    who = {"operator": email, "client": client}
    if await throttle.count(throttle_key) >= MAX_FAILURES_PER_ADDRESS:
        log.warning("operator.throttled", extra=who)
        raise LoginRefused("throttled", "too many sign-in attempts from this address", 60)
    operator = await Operator.filter(email=email).first()
    now = datetime.now(UTC)
    if operator is not None and operator.locked_until and operator.locked_until > now:
        log.warning("operator.login_refused_locked", extra=who)
        retry = int((operator.locked_until - now).total_seconds()) + 1
        raise LoginRefused("locked", "account locked after repeated failures", retry)
    if operator is None or not verify_password(operator.password_hash, password):
        await throttle.hit(throttle_key)
        failures, locked_until = 0, None
        if operator is not None:
            failures = operator.failed_logins + 1
            locked_until = policy.locked_until(failures, now)
            await Operator.filter(id=operator.id).update(
                failed_logins=failures, locked_until=locked_until
            )
        action = "operator.locked" if locked_until else "operator.login_failed"
        log.warning(action, extra={**who, "failures": failures})
        raise LoginRefused("invalid_credentials", "e-mail or password is wrong")
    updates: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    if needs_rehash(operator.password_hash):
        updates["password_hash"] = hash_password(password)
    await Operator.filter(id=operator.id).update(**updates)
    log.info("operator.login", extra=who)
    return operator


@dataclass(frozen=True)
class SignedInOperator:
    operator: Operator
    session: OperatorSession


async def start_operator_session(operator: Operator, *, hours: int) -> str:
    """Create a session; returns the cookie token, shown once (the table keeps its hash)."""
    token, now = new_token(), datetime.now(UTC)
    # Housekeeping: this operator's expired sessions go at their next sign-in.
    await OperatorSession.filter(operator_id=operator.id, expires_at__lte=now).delete()
    await OperatorSession.create(
        operator=operator,
        token_hash=token_hash(token),
        csrf_token=new_token(24),
        expires_at=now + timedelta(hours=hours),
    )
    return token


async def operator_from_token(token: str) -> SignedInOperator | None:
    session = (
        await OperatorSession.filter(token_hash=token_hash(token))
        .select_related("operator")
        .first()
    )
    if session is None or session.expires_at <= datetime.now(UTC):
        return None
    return SignedInOperator(session.operator, session)


async def end_operator_session(signed_in: SignedInOperator) -> None:
    await OperatorSession.filter(id=signed_in.session.id).delete()
    log.info("operator.logout", extra={"operator": signed_in.operator.email})
