"""The attachment field type as a form declares it.

A form marks a top-level property ``"type": "array"`` with
``"x-attachment": {"accept": ["pdf", "jpg"], "max_size_mb": 10, "max_count": 3}``. The
record then holds references only (``{id, name, size, content_type, sha256}``); the bytes
live in object storage (``danbao.records.attachments``), and what each extension must look
like inside is ``danbao.forms.attachments``' business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

MAX_SIZE_MB = 100
MAX_COUNT = 50
DEFAULT_COUNT = 1
EXTENSIONS = (
    "pdf", "jpg", "jpeg", "png", "gif", "webp", "tif", "tiff", "heic",
    "doc", "xls", "docx", "xlsx", "ofd", "zip", "txt", "csv",
)  # fmt: skip
"""The extensions a field may accept; each has a content check in danbao.forms.attachments."""

SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["accept", "max_size_mb"],
    "properties": {
        "accept": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": list(EXTENSIONS)},
        },
        "max_size_mb": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SIZE_MB},
        "max_count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class AttachmentSpec:
    """The limits of one attachment field."""

    accept: tuple[str, ...]
    max_size_mb: float
    max_count: int

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> AttachmentSpec:
        return cls(
            accept=tuple(value["accept"]),
            max_size_mb=float(value["max_size_mb"]),
            max_count=int(value.get("max_count", DEFAULT_COUNT)),
        )

    @property
    def max_bytes(self) -> int:
        return int(self.max_size_mb * 1024 * 1024)

    @property
    def max_size_text(self) -> str:
        return f"{self.max_size_mb:g} MB"

    @property
    def accept_text(self) -> str:
        return ", ".join(self.accept)

    @property
    def accept_attribute(self) -> str:
        """For ``<input type=file accept=…>``: a hint to the picker, never the check."""
        return ",".join(f".{ext}" for ext in self.accept)


def spec_of(prop: Mapping[str, Any]) -> AttachmentSpec | None:
    """The field's limits if it is an attachment field (its definition is already valid)."""
    value = prop.get("x-attachment")
    return AttachmentSpec.parse(value) if isinstance(value, Mapping) else None


def attachment_fields(properties: Mapping[str, Any]) -> dict[str, AttachmentSpec]:
    """Top-level field key -> limits, for every attachment field of a form's schema."""
    found = {}
    for key, prop in properties.items():
        spec = spec_of(prop) if isinstance(prop, Mapping) else None
        if spec is not None:
            found[key] = spec
    return found


@lru_cache(maxsize=1)
def _spec_validator() -> Draft202012Validator:
    return Draft202012Validator(SPEC_SCHEMA)


def definition_problems(value: Any, prop: Mapping[str, Any], top_level: bool) -> list[str]:
    """What is wrong with an ``x-attachment`` declaration (for the bundle checks)."""
    if not top_level:
        return ["x-attachment applies only to top-level properties of the form"]
    problems = []
    for error in _spec_validator().iter_errors(value):
        where = "/".join(str(p) for p in error.absolute_path)
        problems.append(f"{where + ': ' if where else ''}{error.message}")
    if prop.get("type") != "array":
        problems.append('an attachment field must be "type": "array" (of references)')
    if "items" in prop:
        problems.append("an attachment field's items are the runtime's references: omit items")
    return problems
