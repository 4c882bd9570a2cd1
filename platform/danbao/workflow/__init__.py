"""Approval chains: the compiled plan, the pure transition logic, and (in ``store``) its
persistence. See docs/workflows.md."""

from .engine import Action, Effects, Env, Refused, Result, act, start
from .people import People, Person
from .plan import Plan, compile_plan
from .state import State, Task

__all__ = [
    "Action",
    "Effects",
    "Env",
    "People",
    "Person",
    "Plan",
    "Refused",
    "Result",
    "State",
    "Task",
    "act",
    "compile_plan",
    "start",
]
