"""Who holds which roles in which department: the tenant administrator's assignments.

Checked against the tenant's current definitions (roles and departments must exist), and
the tenant is never left without an active administrator. Every change is an audit event
with the old and the new assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from danbao.audit import record_event
from danbao.db.models import User
from danbao.definitions import Bundle

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class AssignmentError:
    pointer: str
    code: str
    params: dict[str, str]


class AssignmentInvalid(ValueError):
    def __init__(self, errors: list[AssignmentError]) -> None:
        super().__init__("; ".join(f"{e.pointer}: {e.code}" for e in errors))
        self.errors = errors


def check_assignment(bundle: Bundle, roles: Any, department: Any) -> list[AssignmentError]:
    errors: list[AssignmentError] = []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return [AssignmentError("/roles", "roles_type", {})]
    for index, role in enumerate(roles):
        if role not in bundle.role_ids:
            errors.append(AssignmentError(f"/roles/{index}", "unknown_role", {"role": role}))
    if len(set(roles)) != len(roles):
        errors.append(AssignmentError("/roles", "duplicate_role", {}))
    departments = {d["id"] for d in bundle.permissions.get("departments", [])}
    if department is not None and (
        not isinstance(department, str) or department not in departments
    ):
        errors.append(
            AssignmentError("/department", "unknown_department", {"department": str(department)})
        )
    return errors


async def _other_active_admins(user: User) -> int:
    others = await User.filter(is_active=True).exclude(id=user.id).values_list("roles", flat=True)
    return sum(1 for roles in others if ADMIN_ROLE in roles)


async def change_assignment(
    bundle: Bundle,
    user: User,
    *,
    roles: Any = None,
    department: Any = ...,
    is_active: Any = None,
) -> User:
    """Apply the given parts (``...`` / None: unchanged); raise AssignmentInvalid."""
    new_roles = user.roles if roles is None else roles
    new_department = user.department if department is ... else department
    new_active = user.is_active if is_active is None else is_active
    errors = check_assignment(bundle, new_roles, new_department)
    if not isinstance(new_active, bool):
        errors.append(AssignmentError("/is_active", "active_type", {}))
    was_admin = ADMIN_ROLE in user.roles and user.is_active
    stays_admin = new_active is True and ADMIN_ROLE in new_roles
    lone = not errors and was_admin and not stays_admin and await _other_active_admins(user) == 0
    if lone:
        errors.append(AssignmentError("/roles", "last_admin", {}))
    if errors:
        raise AssignmentInvalid(errors)
    before = {"roles": user.roles, "department": user.department, "is_active": user.is_active}
    after = {"roles": new_roles, "department": new_department, "is_active": new_active}
    if before == after:
        return user
    await User.filter(id=user.id).update(**after)
    await record_event(
        "user.assignment_changed", "user", str(user.id), {"from": before, "to": after}
    )
    user.roles, user.department, user.is_active = new_roles, new_department, new_active
    return user
