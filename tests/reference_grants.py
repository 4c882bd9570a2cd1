"""A deliberately simple evaluator of role grants, the oracle the Casbin enforcer is checked
against (tests/test_authz_enforcer.py). Not used by the runtime."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def effective_roles(permissions: dict[str, Any], roles: Iterable[str]) -> set[str]:
    inherits = {r["id"]: r.get("inherits", []) for r in permissions.get("roles", [])}
    seen: set[str] = set()
    stack = [r for r in roles if r in inherits]
    while stack:
        role = stack.pop()
        if role not in seen:
            seen.add(role)
            stack.extend(inherits.get(role, []))
    return seen


def _matches(granted: str, resource: str) -> bool:
    """``form:*`` grants every form; anything else must be named exactly."""
    if granted.endswith(":*"):
        return resource.startswith(granted[:-1])
    return granted == resource


def is_allowed(
    permissions: dict[str, Any], roles: Iterable[str], resource: str, action: str
) -> bool:
    grants = permissions.get("grants", {})
    return any(
        action in actions and _matches(granted, resource)
        for role in effective_roles(permissions, roles)
        for granted, actions in grants.get(role, {}).items()
    )
