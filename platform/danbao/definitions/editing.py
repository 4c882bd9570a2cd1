"""Checking one definition file as typed in the browser, within its whole bundle.

The console's editor sends the text of one file; it is decoded strictly (duplicate keys,
NaN, depth: ``jsonfile``), put in place of that file in the current bundle, and the whole
bundle is validated, so a change that breaks another file (a permission naming a field
that is gone) is reported too. Each error keeps its file and JSON pointer and, for the
edited file, gets the line and column where that value starts (``json-source-map``), so
the editor can mark the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from json_source_map import calculate
from json_source_map.errors import InvalidInputError

from .bundle import Bundle
from .errors import BundleInvalid, DefinitionError
from .jsonfile import decode
from .layout import is_text
from .validate import validate_bundle_dict

MAX_TEXT = 1024 * 1024  # one definition file's limit (layout.MAX_FILE_BYTES)
_LINE = re.compile(r"line (\d+): ")


@dataclass(frozen=True)
class Located:
    """A definition error, with the 1-based line and column in the edited text if known."""

    file: str
    pointer: str
    message: str
    line: int | None = None
    column: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "pointer": self.pointer,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }


def check_file_text(
    files: dict[str, Any], path: str, text: str
) -> tuple[Bundle | None, list[Located]]:
    """``(bundle, [])`` when ``files`` with ``path`` replaced by ``text`` is valid, else
    ``(None, errors)``. ``files`` is not changed."""
    raw = text.encode("utf-8")
    if len(raw) > MAX_TEXT:
        return None, [Located(path, "", f"file is {len(raw)} bytes, over the 1 MiB limit")]
    if is_text(path):
        content: Any = text  # a template: its errors carry their line already
    else:
        content, errors = decode(path, raw)
        if errors:
            return None, [_at_syntax(e, text) for e in errors]
    candidate = dict(files)
    candidate[path] = content
    try:
        return validate_bundle_dict(candidate), []
    except BundleInvalid as invalid:
        if is_text(path):
            return None, [_template_line(e, path) for e in invalid.errors]
        return None, _locate(invalid.errors, path, text)


def _template_line(error: DefinitionError, path: str) -> Located:
    """A template's error says ``line N: …``; the editor gets N as the line."""
    match = _LINE.match(error.message) if error.file == path else None
    line = int(match[1]) if match else None
    return Located(error.file, error.pointer, error.message, line, 1 if line else None)


def _at_syntax(error: DefinitionError, text: str) -> Located:
    """A decoding error; a syntax error gets the line and column the parser stopped at."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return Located(error.file, error.pointer, error.message, exc.lineno, exc.colno)
    except ValueError:
        pass
    # Duplicate keys and the like have a pointer; the text is valid JSON, so map it.
    return _locate([error], error.file, text)[0]


def _locate(errors: list[DefinitionError], path: str, text: str) -> list[Located]:
    try:
        spots = calculate(text)
    except (InvalidInputError, RecursionError):
        spots = {}
    located = []
    for error in errors:
        entry = None
        if error.file == path:
            pointer = error.pointer
            # A pointer to a missing key (``/schema/required/3`` …) falls back to its parent.
            while entry is None:
                entry = spots.get(pointer)
                if not pointer:
                    break
                pointer = pointer.rsplit("/", 1)[0]
        if entry is None:
            located.append(Located(error.file, error.pointer, error.message))
            continue
        start = entry.key_start or entry.value_start
        located.append(
            Located(error.file, error.pointer, error.message, start.line + 1, start.column + 1)
        )
    return located
