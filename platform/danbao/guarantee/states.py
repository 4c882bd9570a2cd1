"""The states a guarantee project can be in, as explicit codes (never ordinals).

Codes are stored in the ``project.state`` column and appear in the API; their Chinese
and English names live in the i18n catalogues under ``project.state.<CODE>``.
"""

from __future__ import annotations

from enum import StrEnum

from danbao.i18n import translate


class State(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    DUE_DILIGENCE = "DUE_DILIGENCE"
    UNDER_REVIEW = "UNDER_REVIEW"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    CONTRACTING = "CONTRACTING"
    CONTRACTED = "CONTRACTED"
    LETTER_ISSUED = "LETTER_ISSUED"
    ACTIVE = "ACTIVE"
    WATCHLIST = "WATCHLIST"
    OVERDUE = "OVERDUE"
    COMPENSATED = "COMPENSATED"
    RECOVERING = "RECOVERING"
    RELEASED = "RELEASED"
    RECOVERY_CLOSED = "RECOVERY_CLOSED"
    WRITTEN_OFF = "WRITTEN_OFF"


INITIAL = State.DRAFT
"""A project created from a submitted application starts here, until it is accepted."""


def state_name(state: State | str, locale: str) -> str:
    return translate(locale, f"project.state.{State(state).value}")
