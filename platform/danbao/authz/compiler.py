"""Compiling a tenant's ``permissions.json`` into Casbin lines, scopes and field rules.

The result is a frozen value built once per (tenant, definition version). Every policy
and grouping line remembers the JSON pointer it came from, so the explainer can point
a tenant administrator at the exact entry that decided.

Input is a bundle's permissions, already validated by the meta-schema and the
cross-checks (danbao.definitions); compiling does not check them again, but it never
loops on a cycle or fails on an optional section that is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from danbao.definitions.errors import pointer
from danbao.definitions.graph import reachable
from danbao.definitions.scope_conditions import ScopeCondition, compile_condition

from .departments import DepartmentTree
from .fields import FieldRule
from .scope import ScopeKind

PolicyLine = tuple[str, str, str, str]
"""``p, role, tenant, resource, action``: the role may do action on resource in tenant."""

GroupingLine = tuple[str, str, str]
"""``g, role, parent_role, tenant``: role holds every grant of parent_role in tenant."""


@dataclass(frozen=True)
class Role:
    id: str
    name_zh: str
    name_en: str | None
    inherits: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """One tenant's permission matrix in the shapes enforcement needs.

    - ``policies``/``groupings``: the Casbin lines; ``provenance`` maps each line to its
      pointer in permissions.json.
    - ``effective_roles``: role -> itself and every role it inherits, transitively.
    - ``data_scopes``: (role, resource) -> scope kind, exactly as declared (resource may be
      a wildcard such as ``form:*``); inheritance and defaults are the enforcer's job.
    - ``scope_conditions``: (role, ``form:<id>``) -> the condition that narrows that
      scope (``{"kind": …, "condition": …}``; the kind defaults to ``all``).
    - ``field_rules``: (role, form id) -> field key -> rule, exactly as declared.
    """

    tenant_id: str
    policies: tuple[PolicyLine, ...]
    groupings: tuple[GroupingLine, ...]
    provenance: Mapping[PolicyLine | GroupingLine, str]
    roles: Mapping[str, Role]
    effective_roles: Mapping[str, frozenset[str]]
    data_scopes: Mapping[tuple[str, str], ScopeKind]
    scope_conditions: Mapping[tuple[str, str], ScopeCondition]
    field_rules: Mapping[tuple[str, str], Mapping[str, FieldRule]]
    departments: DepartmentTree


def compile_permissions(
    tenant_id: str,
    permissions: Mapping[str, Any],
    forms: Mapping[str, Mapping[str, Any]] | None = None,
) -> CompiledPolicy:
    """Compile one tenant's validated ``permissions.json`` (deny by default: only what is
    granted becomes a policy line). ``forms`` (form id -> form file) gives the field types
    that scope conditions need; a bundle with conditions must pass it."""
    provenance: dict[PolicyLine | GroupingLine, str] = {}
    roles = _roles(permissions.get("roles", []))

    groupings: list[GroupingLine] = []
    for index, role in enumerate(permissions.get("roles", [])):
        for position, parent in enumerate(role.get("inherits", [])):
            grouping = (role["id"], parent, tenant_id)
            groupings.append(grouping)
            provenance[grouping] = pointer("roles", index, "inherits", position)

    policies: list[PolicyLine] = []
    for role_id, resources in permissions.get("grants", {}).items():
        for resource, actions in resources.items():
            for index, action in enumerate(actions):
                policy = (role_id, tenant_id, resource, action)
                if policy not in provenance:  # uniqueItems makes this moot; stay safe anyway
                    policies.append(policy)
                    provenance[policy] = pointer("grants", role_id, resource, index)

    inherits = {role.id: role.inherits for role in roles.values()}
    effective = {role_id: frozenset(reachable(role_id, inherits)) for role_id in roles}

    data_scopes: dict[tuple[str, str], ScopeKind] = {}
    conditions: dict[tuple[str, str], ScopeCondition] = {}
    for role_id, resources in permissions.get("data_scopes", {}).items():
        for resource, declared in resources.items():
            if isinstance(declared, str):
                data_scopes[(role_id, resource)] = ScopeKind(declared)
                continue
            data_scopes[(role_id, resource)] = ScopeKind(declared.get("kind", "all"))
            conditions[(role_id, resource)] = _condition(resource, declared["condition"], forms)
    field_rules = {
        (role_id, form_id): MappingProxyType(
            {field: FieldRule(rule) for field, rule in rules.items()}
        )
        for role_id, forms in permissions.get("field_rules", {}).items()
        for form_id, rules in forms.items()
    }
    return CompiledPolicy(
        tenant_id=tenant_id,
        policies=tuple(policies),
        groupings=tuple(groupings),
        provenance=MappingProxyType(provenance),
        roles=MappingProxyType(roles),
        effective_roles=MappingProxyType(effective),
        data_scopes=MappingProxyType(data_scopes),
        scope_conditions=MappingProxyType(conditions),
        field_rules=MappingProxyType(field_rules),
        departments=DepartmentTree.build(permissions.get("departments", [])),
    )


def _condition(
    resource: str, text: str, forms: Mapping[str, Mapping[str, Any]] | None
) -> ScopeCondition:
    # The bundle passed its cross-checks, so this cannot fail on a published version;
    # if it does (a caller without the forms), refuse to build rather than widen a scope.
    form = (forms or {}).get(resource.removeprefix("form:"))
    if form is None:
        raise ValueError(f"scope condition on {resource}: its form is needed to compile it")
    return compile_condition(text, form["schema"])


def _roles(items: list[dict[str, Any]]) -> dict[str, Role]:
    return {
        item["id"]: Role(
            id=item["id"],
            name_zh=item["name"]["zh-CN"],
            name_en=item["name"].get("en"),
            inherits=tuple(item.get("inherits", [])),
        )
        for item in items
    }
