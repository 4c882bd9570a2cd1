"""Document-number patterns such as ``GX-{yyyy}-{seq:05}``.

Tokens: ``{yyyy}`` ``{yy}`` ``{mm}`` ``{dd}`` ``{seq}`` ``{seq:0N}`` (N from 1 to 12);
everything else is literal text, so ``川广信保字〔{yyyy}〕第{seq:05}号`` works too.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

MAX_LENGTH = 64
_TOKEN = re.compile(r"\{([^{}]*)\}")
_SEQ = re.compile(r"seq(?::0([1-9]|1[0-2]))?")
_DATE_TOKENS = {"yyyy": "%Y", "yy": "%y", "mm": "%m", "dd": "%d"}
_ALLOWED = "{yyyy} {yy} {mm} {dd} {seq} {seq:0N} (N from 1 to 12)"


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Date:
    strftime: str


@dataclass(frozen=True)
class _Seq:
    width: int


_Part = _Literal | _Date | _Seq


@dataclass(frozen=True)
class NumberingPattern:
    source: str
    parts: tuple[_Part, ...]

    @classmethod
    def parse(cls, source: str) -> NumberingPattern:
        """Parse a pattern; raise ValueError naming what is wrong and where."""
        if not source:
            raise ValueError("numbering pattern is empty")
        if len(source) > MAX_LENGTH:
            raise ValueError(f"numbering pattern is longer than {MAX_LENGTH} characters")
        if any(not ch.isprintable() for ch in source):
            raise ValueError(f"numbering pattern {source!r} contains a control character")
        parts: list[_Part] = []
        position = 0
        for match in _TOKEN.finditer(source):
            parts += _literal(source, position, match.start())
            parts.append(_token(source, match))
            position = match.end()
        parts += _literal(source, position, len(source))
        seqs = sum(isinstance(p, _Seq) for p in parts)
        if seqs != 1:
            found = "none" if seqs == 0 else str(seqs)
            raise ValueError(
                f"numbering pattern {source!r} needs exactly one {{seq}} token, found {found}"
            )
        return cls(source, tuple(parts))

    @property
    def per_year(self) -> bool:
        """True when numbers carry the year, so the sequence may restart each year."""
        return any(isinstance(p, _Date) and p.strftime in ("%Y", "%y") for p in self.parts)

    def format(self, seq: int, on: datetime.date) -> str:
        """The number for sequence value ``seq`` allocated on date ``on``."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"sequence value must be a non-negative integer, got {seq!r}")
        out = []
        for part in self.parts:
            if isinstance(part, _Literal):
                out.append(part.text)
            elif isinstance(part, _Date):
                out.append(on.strftime(part.strftime))
            else:
                out.append(str(seq).zfill(part.width))
        return "".join(out)

    def __str__(self) -> str:
        return self.source


def _literal(source: str, start: int, end: int) -> list[_Part]:
    text = source[start:end]
    for brace in "{}":
        if brace in text:
            at = start + text.index(brace) + 1
            raise ValueError(f"numbering pattern {source!r}: unmatched {brace!r} at position {at}")
    return [_Literal(text)] if text else []


def _token(source: str, match: re.Match[str]) -> _Part:
    name = match.group(1)
    if name in _DATE_TOKENS:
        return _Date(_DATE_TOKENS[name])
    seq = _SEQ.fullmatch(name)
    if seq:
        return _Seq(int(seq.group(1) or 1))
    if name.startswith("seq"):
        raise ValueError(
            f"numbering pattern {source!r}: {match.group(0)!r} at position {match.start() + 1} "
            "is not a sequence token; write {seq} or {seq:0N} with N from 1 to 12"
        )
    raise ValueError(
        f"numbering pattern {source!r}: unknown token {match.group(0)!r} at position "
        f"{match.start() + 1}; allowed: {_ALLOWED}"
    )
