"""Why the engine refuses an action: a code the store maps to an HTTP status, and a
message for people. A refused action leaves the state it was given untouched."""

from __future__ import annotations

from typing import Literal

RefusalCode = Literal[
    "finished",
    "unknown_task",
    "not_yours",
    "stale",
    "not_allowed",
    "comment_required",
    "bad_target",
    "unknown_user",
    "bad_choice",
    "too_soon",
]


class Refused(Exception):
    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
