"""What a definition bundle can get wrong: one error names the file, the place, the reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DefinitionError:
    """One fault in a bundle.

    ``file`` is the bundle-relative path (``"forms/application.json"``), or ``""`` for
    the bundle as a whole; ``pointer`` is an RFC 6901 JSON pointer into that file, ``""``
    for the whole file.
    """

    file: str
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.pointer}: {self.message}"


class BundleInvalid(Exception):
    """A bundle failed validation; ``errors`` holds every fault found, never just the first."""

    def __init__(self, errors: Iterable[DefinitionError]) -> None:
        self.errors: list[DefinitionError] = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def pointer(*parts: str | int) -> str:
    """Build a JSON pointer from raw keys and indexes, escaping ``~`` and ``/``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def join(base: str, *parts: str | int) -> str:
    """Extend an existing pointer."""
    return base + pointer(*parts)
