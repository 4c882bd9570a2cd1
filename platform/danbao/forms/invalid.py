"""Why a form value was refused, in zh-CN and English.

Form fields are filled by Chinese staff and read back through an English API, so every
refusal carries both texts and a stable code the API and the tests can match on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Invalid:
    """A refusal: ``code`` is stable (``resident_id.checksum``); ``zh`` and ``en`` are shown."""

    code: str
    zh: str
    en: str

    def message(self, locale: str) -> str:
        """The text for ``locale`` (``"en"`` or anything else, which means Chinese)."""
        return self.en if locale == "en" else self.zh


class InvalidValue(ValueError):
    """Raised where a caller needs an exception, e.g. by a jsonschema format check.

    It is a ``ValueError`` so generic code that parses input keeps working; the reason
    is on ``.invalid``.
    """

    def __init__(self, invalid: Invalid) -> None:
        super().__init__(f"{invalid.zh} ({invalid.en})")
        self.invalid = invalid
