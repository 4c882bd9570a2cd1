"""Evaluating a chain's CEL conditions on a record, with the values that decided.

Conditions are data (CEL, never ``eval``), compiled once per text. A field the record
does not hold reads as null; a condition that cannot be evaluated (null compared with a
number, say) counts as false and says why, so a route is always explained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy

from danbao.definitions.conditions import analyse

MASK = "***"

_environment = celpy.Environment()


@dataclass(frozen=True)
class Outcome:
    rule: str
    result: bool
    values: dict[str, Any]
    error: str | None = None

    def explain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "values": self.values, "result": self.result}
        if self.error:
            out["error"] = self.error
        return out


@lru_cache(maxsize=4096)
def _program(text: str) -> Any:
    return _environment.program(_environment.compile(text))


def evaluate(
    text: str, data: Mapping[str, Any], sensitive: frozenset[str] = frozenset()
) -> Outcome:
    """Evaluate ``text`` on the record's fields; sensitive values are masked in the outcome."""
    names = sorted(analyse(text).names)
    activation = {name: data.get(name) for name in names}
    shown = {name: MASK if name in sensitive else activation[name] for name in names}
    try:
        result = _program(text).evaluate(celpy.json_to_cel(activation))
    except Exception as exc:  # celpy raises several types; all mean "could not evaluate"
        return Outcome(text, False, shown, f"could not evaluate: {type(exc).__name__}")
    if isinstance(result, Exception):
        return Outcome(text, False, shown, "could not evaluate")
    if not isinstance(result, bool | celpy.celtypes.BoolType):
        return Outcome(text, False, shown, "not a true/false condition")
    return Outcome(text, bool(result), shown)
