"""Why a record is, or is not, in a user's data scope, in terms an administrator can act on.

The verdict comes from the very filter lists and single-record reads use (``scope_of``
then the query by id), so the explainer cannot disagree with them. Each part of the
scope (a role's kind, narrowed by its condition) is then tried on its own, kind and
condition apart, to name the role and the line of ``permissions.json`` that admitted
the record, or the condition that kept it out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from danbao.authz.enforcer import TenantEnforcer
from danbao.authz.scope import Scope
from danbao.authz.scope_query import ScopeFilter, part_filters
from danbao.db.models import Record, User
from danbao.records.access import dialect, scope_of, scoped, subject_of


@dataclass(frozen=True)
class PartVerdict:
    role: str | None
    kind: str
    pointer: str | None
    condition: str | None
    condition_pointer: str | None
    kind_holds: bool
    condition_holds: bool


@dataclass(frozen=True)
class ScopeVerdict:
    """``in_scope`` is the records query's own answer; ``deciding`` the part that admitted
    the record, or (out of scope) the one whose condition failed while its kind held."""

    record_id: str
    in_scope: bool
    parts: tuple[PartVerdict, ...]
    deciding: PartVerdict | None
    reason: str


async def explain_record(
    enforcer: TenantEnforcer, user: User, form_id: str, record_id: uuid.UUID
) -> ScopeVerdict | None:
    """The verdict for ``user`` on record ``record_id`` of ``form_id``; None when the tenant
    has no such record at all."""
    if not await Record.filter(form_id=form_id, id=record_id).exists():
        return None
    in_scope = await _holds(form_id, record_id, scope_of(enforcer, user, form_id))
    scope = enforcer.data_scope(user.roles, f"form:{form_id}")
    parts = tuple([await _part(enforcer, user, form_id, record_id, part) for part in scope.parts])
    admitted = [p for p in parts if p.kind_holds and p.condition_holds]
    failed = [p for p in parts if p.kind_holds and not p.condition_holds]
    deciding = admitted[0] if in_scope and admitted else (failed[0] if failed else None)
    return ScopeVerdict(
        str(record_id), in_scope, parts, deciding, _reason(in_scope, parts, deciding)
    )


async def _part(
    enforcer: TenantEnforcer, user: User, form_id: str, record_id: uuid.UUID, part: Scope
) -> PartVerdict:
    kind, condition = part_filters(part, subject_of(user), enforcer.compiled.departments, dialect())
    return PartVerdict(
        role=part.role,
        kind=part.kind.value,
        pointer=part.pointer,
        condition=part.condition.text if part.condition else None,
        condition_pointer=part.condition_pointer,
        kind_holds=await _holds(form_id, record_id, kind),
        condition_holds=await _holds(form_id, record_id, condition),
    )


async def _holds(form_id: str, record_id: uuid.UUID, scope: ScopeFilter | None) -> bool:
    if scope is None:
        return False
    return await scoped(form_id, scope).filter(id=record_id).exists()


def _where(pointer: str | None) -> str:
    return f"permissions.json#{pointer}" if pointer else "(no scope declared: own)"


def _reason(in_scope: bool, parts: tuple[PartVerdict, ...], deciding: PartVerdict | None) -> str:
    if not parts:
        return "no held role may read this form, so no record is in scope"
    if in_scope and deciding is not None:
        how = f" and its condition '{deciding.condition}' holds" if deciding.condition else ""
        return (
            f"in scope: role {deciding.role}'s scope {deciding.kind} at "
            f"{_where(deciding.pointer)} covers the record{how}"
        )
    if deciding is not None:
        return (
            f"out of scope: the condition '{deciding.condition}' of role {deciding.role} at "
            f"{_where(deciding.condition_pointer)} is not true for this record"
        )
    outside = "; ".join(f"role {p.role}: {p.kind} at {_where(p.pointer)}" for p in parts)
    return f"out of scope: the record lies outside every scope held ({outside})"
