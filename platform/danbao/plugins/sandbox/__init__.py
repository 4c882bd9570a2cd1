"""Deterministic sandbox plug-ins for every kind: demos and tests need no outside service.

The answer is a pure function of the request, so the same applicant always gets the
same report. Scenarios are chosen by words in the subject's name (documented in
docs/plugins.md): 失信 (dishonest debtor), 逾期 (overdue loans), 被执行 (under
enforcement), 注销 (registration cancelled), 异常 (abnormal operations). Any other
name comes back clean, with figures derived from a hash of the subject.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

SOURCE = "sandbox"


def seed(*parts: str | None) -> int:
    """A stable number from the subject, so figures vary by applicant but never by call."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def has(name: str, word: str) -> bool:
    return word in name
