"""Strict JSON decoding of one definition file.

Python's ``json`` silently keeps the last of two duplicate keys and accepts ``NaN``;
either would let a file mean something other than what its author sees, so both are
errors here.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import DefinitionError, pointer

MAX_DEPTH = 64
"""Deeper nesting is never a sensible definition, and would strain recursive checks."""


class _Decoded:
    """Collects duplicate keys while the decoder builds objects bottom-up."""

    def __init__(self) -> None:
        # Keep the objects themselves: their ids are only unique while they are alive.
        self.duplicates: list[tuple[dict[str, Any], str]] = []

    def hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                self.duplicates.append((obj, key))
            obj[key] = value
        return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    # 1e400 parses as infinity, which has no JSON form to hash or store.
    if math.isinf(value):
        raise ValueError(f"number {text} is too large")
    return value


def decode(file: str, raw: bytes) -> tuple[Any, list[DefinitionError]]:
    """Decode UTF-8 JSON bytes; return ``(content, [])`` or ``(None, errors)``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = f"0x{raw[exc.start]:02x}"
        return None, [
            DefinitionError(file, "", f"not UTF-8 text: invalid byte {bad} at offset {exc.start}")
        ]
    # Editors on Windows often prepend a byte-order mark; it carries no meaning.
    text = text.removeprefix("\ufeff")
    decoded = _Decoded()
    try:
        content = json.loads(
            text,
            object_pairs_hook=decoded.hook,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        return None, [
            DefinitionError(
                file, "", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            )
        ]
    except ValueError as exc:
        return None, [DefinitionError(file, "", f"not valid JSON: {exc}")]
    except RecursionError:
        return None, [DefinitionError(file, "", f"nested deeper than {MAX_DEPTH} levels")]
    errors = depth_errors(file, content)
    if decoded.duplicates:
        wanted = {id(obj): obj for obj, _ in decoded.duplicates}
        places = _pointers_of(content, wanted)
        errors += [
            DefinitionError(file, places[id(obj)] + pointer(key), f"duplicate key {key!r}")
            for obj, key in decoded.duplicates
            if id(obj) in places
        ]
    return (None, errors) if errors else (content, [])


def decode_text(file: str, raw: bytes) -> tuple[Any, list[DefinitionError]]:
    """Decode a text file of the bundle (a template): strict UTF-8, no byte-order mark."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff"), []
    except UnicodeDecodeError as exc:
        bad = f"0x{raw[exc.start]:02x}"
        return None, [
            DefinitionError(file, "", f"not UTF-8 text: invalid byte {bad} at offset {exc.start}")
        ]


def depth_errors(file: str, content: Any) -> list[DefinitionError]:
    """Refuse content nested deeper than ``MAX_DEPTH`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(content, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [DefinitionError(file, "", f"nested deeper than {MAX_DEPTH} levels")]
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return []


def _pointers_of(content: Any, wanted: dict[int, Any]) -> dict[int, str]:
    """Find where each wanted object sits in the document."""
    found: dict[int, str] = {}
    stack: list[tuple[Any, str]] = [(content, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            if id(value) in wanted:
                found[id(value)] = where
            stack.extend((v, where + pointer(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, where + pointer(i)) for i, v in enumerate(value))
    return found
