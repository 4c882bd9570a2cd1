"""Compiling permissions.json: Casbin lines with provenance, roles, departments."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from danbao.authz.compiler import CompiledPolicy, compile_permissions
from danbao.authz.enforcer import MODEL_TEXT
from danbao.authz.fields import FieldRule
from danbao.authz.scope import ScopeKind
from danbao.config import REPO_ROOT
from danbao.definitions import load_bundle

SHIPPED = ("_template", "gxdb", "qsnd")


def resolve(document: Any, pointer: str) -> Any:
    """RFC 6901, enough for permissions.json."""
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def compile_gxdb() -> CompiledPolicy:
    bundle = load_bundle(REPO_ROOT / "tenants" / "gxdb")
    return compile_permissions("t", bundle.permissions, bundle.forms)


def label(name: str) -> dict[str, str]:
    return {"zh-CN": name, "en": name}


@pytest.mark.parametrize("slug", SHIPPED)
def test_every_shipped_bundle_compiles_with_provenance(slug: str) -> None:
    bundle = load_bundle(REPO_ROOT / "tenants" / slug)
    permissions = bundle.permissions
    compiled = compile_permissions("tenant-1", permissions, bundle.forms)

    expected = sum(
        len(actions) for grants in permissions["grants"].values() for actions in grants.values()
    )
    assert len(compiled.policies) == expected > 0
    for line in compiled.policies:
        role, tenant, resource, action = line
        assert tenant == "tenant-1"
        # Every line points at the very action in permissions.json it came from.
        at = compiled.provenance[line]
        assert at.startswith(f"/grants/{role}/")
        assert resolve(permissions, at) == action
        assert action in permissions["grants"][role][resource]
    for grouping in compiled.groupings:
        role, parent, tenant = grouping
        assert tenant == "tenant-1"
        assert resolve(permissions, compiled.provenance[grouping]) == parent
        assert parent in compiled.effective_roles[role]

    assert set(compiled.roles) == {r["id"] for r in permissions["roles"]}
    assert set(compiled.departments.parents) == {d["id"] for d in permissions["departments"]}
    declared = {(r, res) for r, scopes in permissions["data_scopes"].items() for res in scopes}
    assert set(compiled.data_scopes) == declared


def test_inheritance_lines_and_effective_roles() -> None:
    compiled = compile_gxdb()
    assert compiled.groupings == (("branch_manager", "account_manager", "t"),)
    assert compiled.provenance[compiled.groupings[0]] == "/roles/2/inherits/0"
    assert compiled.effective_roles["branch_manager"] == {"branch_manager", "account_manager"}
    assert compiled.effective_roles["account_manager"] == {"account_manager"}
    assert compiled.roles["branch_manager"].name_zh == "分公司负责人"
    assert compiled.roles["branch_manager"].name_en == "Branch manager"


def test_transitive_inheritance_and_cycles_terminate() -> None:
    compiled = compile_permissions(
        "t",
        {
            "roles": [
                {"id": "a", "name": label("A"), "inherits": ["b"]},
                {"id": "b", "name": label("B"), "inherits": ["c"]},
                {"id": "c", "name": label("C"), "inherits": ["a"]},  # rejected by crosscheck
            ],
            "grants": {},
        },
    )
    assert compiled.effective_roles["a"] == {"a", "b", "c"}
    assert compiled.policies == ()


def test_department_tree() -> None:
    tree = compile_permissions(
        "t", load_bundle(REPO_ROOT / "tenants" / "qsnd").permissions
    ).departments
    assert tree.parents["qingshan_station"] == "business"
    assert tree.parents["company"] is None
    assert tree.descendants["business"] == {"qingshan_station", "hexi_station"}
    assert tree.descendants["company"] == {
        "business",
        "qingshan_station",
        "hexi_station",
        "risk",
        "office",
    }
    assert tree.descendants["hexi_station"] == frozenset()
    assert tree.subtree("business") == {"business", "qingshan_station", "hexi_station"}
    assert tree.subtree("unknown") == {"unknown"}


def test_scopes_and_field_rules_as_declared() -> None:
    compiled = compile_gxdb()
    assert compiled.data_scopes[("branch_manager", "form:application")] is ScopeKind.ALL
    condition = compiled.scope_conditions[("branch_manager", "form:application")]
    assert condition.text == "branch == user.department"
    assert compiled.data_scopes[("branch_manager", "form:due_diligence")] is ScopeKind.DEPARTMENT
    assert ("branch_manager", "form:due_diligence") not in compiled.scope_conditions
    assert compiled.field_rules[("finance", "application")]["shareholders"] is FieldRule.HIDDEN
    # Values the issue adds beyond today's meta-schema compile too.
    extra = compile_permissions(
        "t",
        {
            "roles": [{"id": "a", "name": label("A")}],
            "grants": {"a": {"form:x": ["read"]}},
            "data_scopes": {"a": {"form:x": "department_tree"}},
            "field_rules": {"a": {"x": {"f": "writable"}}},
        },
    )
    assert extra.data_scopes[("a", "form:x")] is ScopeKind.DEPARTMENT_TREE
    assert extra.field_rules[("a", "x")]["f"] is FieldRule.WRITABLE


def test_minimal_permissions_and_immutability() -> None:
    compiled = compile_permissions("t", {"roles": [{"id": "a", "name": label("A")}], "grants": {}})
    assert compiled.policies == () and compiled.groupings == ()
    assert dict(compiled.data_scopes) == {} and dict(compiled.field_rules) == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.tenant_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        compiled.roles["b"] = compiled.roles["a"]  # type: ignore[index]


def test_model_checks_the_tenant_first_and_denies_by_default() -> None:
    matcher = next(line for line in MODEL_TEXT.splitlines() if line.startswith("m ="))
    assert matcher.startswith("m = r.dom == p.dom &&")
    assert "keyMatch(r.obj, p.obj)" in matcher
    assert "e = some(where (p.eft == allow))" in MODEL_TEXT
