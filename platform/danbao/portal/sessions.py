"""Applicant sessions: their own table and cookie, never a staff session (a staff route
looks only in ``user_session``; the portal only in ``applicant_session``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from danbao.auth.secrets import new_token, token_hash
from danbao.db.models import Applicant, ApplicantSession

SESSION_HOURS = 8


async def start(
    applicant: Applicant, *, ip: str | None, user_agent: str | None
) -> tuple[str, ApplicantSession]:
    """The cookie token (shown once) and the session row."""
    now = datetime.now(UTC)
    # The applicant's expired sessions go as a new one starts: the table holds live ones.
    await ApplicantSession.filter(applicant_id=applicant.id, expires_at__lte=now).delete()
    token = new_token()
    session = await ApplicantSession.create(
        applicant_id=applicant.id,
        token_hash=token_hash(token),
        csrf_token=new_token(24),
        expires_at=now + timedelta(hours=SESSION_HOURS),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    return token, session


async def end(session: ApplicantSession) -> None:
    await ApplicantSession.filter(id=session.id).delete()


async def from_token(token: str) -> tuple[Applicant, ApplicantSession] | None:
    session = await ApplicantSession.filter(token_hash=token_hash(token)).first()
    if session is None or session.expires_at <= datetime.now(UTC):
        return None
    applicant = await Applicant.filter(id=session.applicant_id).first()
    return (applicant, session) if applicant else None
