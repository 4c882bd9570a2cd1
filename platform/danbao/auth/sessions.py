"""Server-side sessions: the cookie carries a random token, the table its hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from danbao.auth.secrets import new_token, token_hash
from danbao.db.models import ApiToken, Session, User

LAST_USED_RESOLUTION = timedelta(hours=1)
API_TOKEN_PREFIX = "dbt_"  # noqa: S105 (a marker, not a secret)


@dataclass(frozen=True)
class Authenticated:
    user: User
    session: Session | None  # None when the caller used an API token
    via: str  # "session" | "token"


async def start_session(
    user: User, *, hours: int, ip: str | None, user_agent: str | None
) -> tuple[str, Session]:
    """Returns the cookie token (shown once) and the session row."""
    token = new_token()
    session = await Session.create(
        user_id=user.id,
        token_hash=token_hash(token),
        csrf_token=new_token(24),
        expires_at=datetime.now(UTC) + timedelta(hours=hours),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    return token, session


async def end_session(session: Session) -> None:
    await Session.filter(id=session.id).delete()


async def from_session_token(token: str) -> Authenticated | None:
    session = await Session.filter(token_hash=token_hash(token)).first()
    if session is None or session.expires_at <= datetime.now(UTC):
        return None
    user = await User.filter(id=session.user_id, is_active=True).first()
    return Authenticated(user, session, "session") if user else None


async def issue_api_token(user: User, name: str, *, days: int | None) -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned once and never stored."""
    secret = API_TOKEN_PREFIX + new_token()
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    token = await ApiToken.create(
        user_id=user.id,
        name=name,
        prefix=secret[:12],
        token_hash=token_hash(secret),
        expires_at=expires,
    )
    return token, secret


async def from_api_token(secret: str) -> Authenticated | None:
    if not secret.startswith(API_TOKEN_PREFIX):
        return None
    token = await ApiToken.filter(token_hash=token_hash(secret), revoked_at=None).first()
    now = datetime.now(UTC)
    if token is None or (token.expires_at and token.expires_at <= now):
        return None
    user = await User.filter(id=token.user_id, is_active=True).first()
    if user is None:
        return None
    # Recorded at hour resolution ("used within the last hour" is what an administrator
    # needs): a write per request would make every read a write.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return Authenticated(user, None, "token")
