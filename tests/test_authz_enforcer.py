"""TenantEnforcer: inheritance, wildcards, deny by default, union of roles, explanations,
data scope and field-rule precedence."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from danbao.authz import enforcer as enforcer_module
from danbao.authz.compiler import compile_permissions
from danbao.authz.enforcer import TenantEnforcer
from danbao.authz.fields import FieldRule
from danbao.authz.scope import ScopeKind
from danbao.config import REPO_ROOT
from danbao.definitions import load_bundle

from .reference_grants import is_allowed

ACTIONS = ("read", "create", "update", "delete", "submit", "approve", "export", "publish", "unmask")


def label(name: str) -> dict[str, str]:
    return {"zh-CN": name, "en": name}


def roles(*specs: str | tuple[str, list[str]]) -> list[dict[str, Any]]:
    out = []
    for spec in specs:
        role_id, inherits = spec if isinstance(spec, tuple) else (spec, [])
        out.append({"id": role_id, "name": label(role_id), "inherits": inherits})
    return out


def shipped(slug: str) -> TenantEnforcer:
    bundle = load_bundle(REPO_ROOT / "tenants" / slug)
    return TenantEnforcer(compile_permissions(f"tenant-{slug}", bundle.permissions, bundle.forms))


WILDCARDS = {
    "roles": roles("auditor", "superadmin", "clerk"),
    "grants": {
        "auditor": {"form:*": ["read"], "report:*": ["read", "export"]},
        "superadmin": {"admin:*": ["read", "update"]},
        "clerk": {"form:application": ["read", "create"]},
    },
}


@pytest.fixture(scope="module")
def gxdb() -> TenantEnforcer:
    return shipped("gxdb")


# --- may they? ----------------------------------------------------------------------


def test_inheritance(gxdb: TenantEnforcer) -> None:
    # branch_manager inherits account_manager: its grants plus its own.
    assert gxdb.allowed(["branch_manager"], "form:application", "create")
    assert gxdb.allowed(["branch_manager"], "form:due_diligence", "submit")
    assert gxdb.allowed(["branch_manager"], "workflow:review", "approve")
    # Inheritance runs one way.
    assert not gxdb.allowed(["account_manager"], "workflow:review", "approve")
    assert not gxdb.allowed(["account_manager"], "report:portfolio", "export")
    assert gxdb.effective_roles(["branch_manager"]) == {"branch_manager", "account_manager"}


def test_wildcards() -> None:
    enforcer = TenantEnforcer(compile_permissions("t", WILDCARDS))
    assert enforcer.allowed(["auditor"], "form:application", "read")
    assert enforcer.allowed(["auditor"], "form:anything_else", "read")
    assert enforcer.allowed(["auditor"], "report:portfolio", "export")
    assert not enforcer.allowed(["auditor"], "form:application", "update")
    assert not enforcer.allowed(["auditor"], "workflow:review", "read")
    assert not enforcer.allowed(["auditor"], "formx:application", "read")
    assert not enforcer.allowed(["auditor"], "admin:users", "read")
    assert enforcer.allowed(["superadmin"], "admin:users", "update")
    assert enforcer.allowed(["superadmin"], "admin:settings", "read")
    assert not enforcer.allowed(["superadmin"], "form:application", "read")
    # A named grant does not widen to other forms.
    assert not enforcer.allowed(["clerk"], "form:application_v2", "read")


def test_deny_by_default(gxdb: TenantEnforcer) -> None:
    assert not gxdb.allowed([], "form:application", "read")
    assert not gxdb.allowed(["ghost"], "form:application", "read")
    assert not gxdb.allowed(["admin"], "form:application", "read")
    assert not gxdb.allowed(["account_manager"], "form:application", "delete")
    assert not gxdb.allowed(["account_manager"], "form:nonexistent", "read")
    assert not gxdb.allowed(["account_manager"], "form:*", "read")
    assert not gxdb.allowed(["account_manager"], "", "")
    empty = TenantEnforcer(compile_permissions("t", {"roles": roles("a"), "grants": {}}))
    assert not empty.allowed(["a"], "form:x", "read")


def test_several_roles_are_a_union(gxdb: TenantEnforcer) -> None:
    both = ["finance", "admin"]
    assert gxdb.allowed(both, "report:portfolio", "export")  # finance
    assert gxdb.allowed(both, "admin:users", "create")  # admin
    assert not gxdb.allowed(both, "form:application", "update")  # neither
    assert gxdb.allowed(("admin", "finance"), "report:portfolio", "export")  # order is moot
    assert gxdb.allowed(iter(["ghost", "finance"]), "report:portfolio", "read")
    assert gxdb.evaluate(both, "admin:users", "create")  # the same answer, uncached
    assert not gxdb.evaluate(both, "form:application", "update")


def test_a_rule_of_another_tenant_never_matches(gxdb: TenantEnforcer) -> None:
    # Even if another tenant's line reached this enforcer, r.dom == p.dom rejects it.
    stray = ("finance", "tenant-other", "form:application", "delete")
    compiled = dataclasses.replace(gxdb.compiled, policies=(*gxdb.compiled.policies, stray))
    enforcer = TenantEnforcer(compiled)
    assert not enforcer.allowed(["finance"], "form:application", "delete")
    assert enforcer.allowed(["finance"], "form:application", "read")


@pytest.mark.parametrize("slug", ["_template", "gxdb", "qsnd"])
def test_agrees_with_the_simple_evaluator(slug: str) -> None:
    """Casbin answers as the reference evaluator does, for every shipped role and resource."""
    bundle = load_bundle(REPO_ROOT / "tenants" / slug)
    permissions = bundle.permissions
    enforcer = TenantEnforcer(compile_permissions("t", permissions, bundle.forms))
    role_ids = [r["id"] for r in permissions["roles"]]
    resources = {res for grants in permissions["grants"].values() for res in grants}
    resources |= {"form:unknown", "workflow:unknown", "admin:users", "report:unknown"}
    # Every role alone, and a few pairs (a pair is the union of its roles by construction).
    held_sets = [[r] for r in role_ids] + [role_ids[:2], role_ids[-2:], ["ghost", role_ids[1]]]
    for held, resource, action in itertools.product(held_sets, sorted(resources), ACTIONS):
        expected = is_allowed(permissions, held, resource, action)
        assert enforcer.allowed(held, resource, action) is expected, (held, resource, action)
        assert enforcer.allowed(held, resource, action) is expected  # from the cache now


def test_decision_cache_is_bounded(gxdb: TenantEnforcer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enforcer_module, "DECISION_CACHE_SIZE", 8)
    enforcer = TenantEnforcer(gxdb.compiled)
    for i in range(50):
        assert not enforcer.allowed(["finance"], f"form:probe_{i}", "read")
        assert len(enforcer._decisions) <= 8
    assert enforcer.allowed(["finance"], "report:portfolio", "export")


# --- why? ---------------------------------------------------------------------------


def test_explain_names_role_policy_and_pointer(gxdb: TenantEnforcer) -> None:
    decision = gxdb.explain(["branch_manager"], "form:application", "update")
    assert decision.allowed
    assert decision.role == "branch_manager"
    assert decision.policy == ("account_manager", "tenant-gxdb", "form:application", "update")
    assert decision.pointer == "/grants/account_manager/form:application/2"
    assert "inherited from account_manager" in decision.reason
    assert "/grants/account_manager/form:application/2" in decision.reason

    direct = gxdb.explain(["finance", "risk_officer"], "report:risk_overview", "export")
    assert direct.role == "risk_officer"
    assert direct.pointer == "/grants/risk_officer/report:risk_overview/1"


def test_explain_wildcard(gxdb: TenantEnforcer) -> None:
    enforcer = TenantEnforcer(compile_permissions("t", WILDCARDS))
    decision = enforcer.explain(["auditor"], "form:due_diligence", "read")
    assert decision.policy == ("auditor", "t", "form:*", "read")
    assert decision.pointer == "/grants/auditor/form:*/0"


def test_explain_a_denial_lists_effective_roles(gxdb: TenantEnforcer) -> None:
    decision = gxdb.explain(["branch_manager", "ghost"], "form:application", "delete")
    assert not decision.allowed
    assert decision.role is None and decision.policy is None and decision.pointer is None
    assert decision.effective_roles == ("account_manager", "branch_manager")
    assert decision.reason == (
        "no role grants delete on form:application; effective roles: "
        "account_manager, branch_manager; not roles of this tenant: ghost"
    )
    assert "effective roles: none" in gxdb.explain([], "form:application", "read").reason


def test_explain_agrees_with_allowed(gxdb: TenantEnforcer) -> None:
    for held, resource, action in itertools.product(
        [["finance"], ["branch_manager"], ["legal", "finance"]],
        ["form:application", "workflow:review", "report:portfolio"],
        ACTIONS,
    ):
        assert gxdb.explain(held, resource, action).allowed is gxdb.allowed(held, resource, action)


# --- data scope ---------------------------------------------------------------------

SCOPES = {
    "roles": roles(
        "mine", "dept", "tree", "everyone", "writer", "lurker", ("heir", ["tree"]), "wild"
    ),
    "grants": {
        role: {"form:loan": ["read"]} for role in ("mine", "dept", "tree", "everyone", "heir")
    }
    | {"writer": {"form:loan": ["create"]}, "wild": {"form:*": ["read"]}},
    "data_scopes": {
        "mine": {"form:loan": "own"},
        "dept": {"form:loan": "department"},
        "tree": {"form:loan": "department_tree"},
        "everyone": {"form:loan": "all"},
        "writer": {"form:loan": "all"},  # a scope without a read grant gives nothing
        "lurker": {"form:loan": "all"},
        "wild": {"form:*": "department", "form:loan": "all"},
    },
}


@pytest.fixture(scope="module")
def scopes() -> TenantEnforcer:
    return TenantEnforcer(compile_permissions("t", SCOPES))


def test_scope_of_one_role(scopes: TenantEnforcer) -> None:
    assert scopes.data_scope(["mine"], "form:loan").widest.kind is ScopeKind.OWN
    assert scopes.data_scope(["dept"], "form:loan").widest.kind is ScopeKind.DEPARTMENT
    assert scopes.data_scope(["tree"], "form:loan").widest.kind is ScopeKind.DEPARTMENT_TREE
    assert scopes.data_scope(["everyone"], "form:loan").widest.kind is ScopeKind.ALL
    scope = scopes.data_scope(["dept"], "form:loan").widest
    assert (scope.role, scope.pointer) == ("dept", "/data_scopes/dept/form:loan")


def test_scope_needs_a_read_grant(scopes: TenantEnforcer) -> None:
    assert scopes.data_scope(["writer"], "form:loan").widest.kind is ScopeKind.NONE
    assert scopes.data_scope(["lurker"], "form:loan").widest.kind is ScopeKind.NONE
    assert scopes.data_scope([], "form:loan").widest.kind is ScopeKind.NONE
    assert scopes.data_scope(["everyone"], "form:other").widest.kind is ScopeKind.NONE


def test_widest_scope_wins(scopes: TenantEnforcer) -> None:
    order = ["mine", "dept", "tree", "everyone"]
    for narrow, wide in itertools.combinations(order, 2):
        scope = scopes.data_scope([wide, narrow], "form:loan").widest
        assert scope.kind is scopes.data_scope([wide], "form:loan").widest.kind
        assert scope.role == wide
    assert scopes.data_scope(["mine", "writer", "lurker"], "form:loan").widest.kind is ScopeKind.OWN


def test_scope_inheritance_wildcards_and_default(scopes: TenantEnforcer) -> None:
    heir = scopes.data_scope(["heir"], "form:loan").widest  # declares nothing; inherits tree's
    assert heir.kind is ScopeKind.DEPARTMENT_TREE
    assert (heir.role, heir.pointer) == ("heir", "/data_scopes/tree/form:loan")
    assert scopes.data_scope(["wild"], "form:loan").widest.kind is ScopeKind.ALL  # exact first
    wild = scopes.data_scope(["wild"], "form:other").widest
    assert (wild.kind, wild.pointer) == (ScopeKind.DEPARTMENT, "/data_scopes/wild/form:*")
    # Reading without any declared scope: least privilege.
    bare = TenantEnforcer(
        compile_permissions("t", {"roles": roles("r"), "grants": {"r": {"form:x": ["read"]}}})
    )
    scope = bare.data_scope(["r"], "form:x").widest
    assert (scope.kind, scope.role, scope.pointer) == (ScopeKind.OWN, "r", None)


def test_shipped_scopes(gxdb: TenantEnforcer) -> None:
    assert gxdb.data_scope(["account_manager"], "form:application").widest.kind is ScopeKind.OWN
    branch = gxdb.data_scope(["branch_manager"], "form:application").widest
    assert branch.kind is ScopeKind.ALL and branch.condition is not None
    assert branch.condition_pointer == "/data_scopes/branch_manager/form:application/condition"
    assert gxdb.data_scope(["finance"], "form:application").widest.kind is ScopeKind.ALL
    assert gxdb.data_scope(["finance"], "form:due_diligence").widest.kind is ScopeKind.NONE
    assert gxdb.data_scope(["admin"], "form:application").widest.kind is ScopeKind.NONE


# --- field rules --------------------------------------------------------------------

FIELDS = {
    "roles": roles(
        "editor",
        "viewer",
        "masker",
        "hider",
        "outsider",
        ("junior", ["masker"]),
        ("overrider", ["masker"]),
    ),
    "grants": {
        "editor": {"form:loan": ["read", "update"]},
        "viewer": {"form:loan": ["read"]},
        "masker": {"form:loan": ["read", "update"]},
        "hider": {"form:loan": ["read"]},
        "outsider": {"form:other": ["read"]},
        "junior": {"form:loan": ["read"]},
        "overrider": {"form:loan": ["read", "update"]},
    },
    "field_rules": {
        "editor": {"loan": {"rate": "readonly"}},
        "viewer": {"loan": {"id_number": "writable"}},  # capped: viewer cannot update
        "masker": {"loan": {"id_number": "masked", "mobile": "masked"}},
        "hider": {"loan": {"id_number": "hidden", "mobile": "hidden", "note": "hidden"}},
        "outsider": {"loan": {"id_number": "writable"}},  # cannot read loan at all
        "overrider": {"loan": {"id_number": "readonly"}},
    },
}


@pytest.fixture(scope="module")
def fields() -> TenantEnforcer:
    return TenantEnforcer(compile_permissions("t", FIELDS))


def test_field_rules_of_one_role(fields: TenantEnforcer) -> None:
    editor = fields.field_rules(["editor"], "loan")
    assert editor == {"rate": FieldRule.READONLY}
    assert editor.default is FieldRule.WRITABLE and editor.rule("anything") is FieldRule.WRITABLE
    viewer = fields.field_rules(["viewer"], "loan")
    assert viewer == {"id_number": FieldRule.READONLY}
    assert viewer.default is FieldRule.READONLY
    hider = fields.field_rules(["hider"], "loan")
    assert hider.rule("note") is FieldRule.HIDDEN and hider.rule("amount") is FieldRule.READONLY
    nothing = fields.field_rules(["outsider"], "loan")
    assert nothing == {} and nothing.default is FieldRule.HIDDEN
    assert fields.field_rules([], "loan").rule("amount") is FieldRule.HIDDEN


def test_most_permissive_rule_wins(fields: TenantEnforcer) -> None:
    # writable > readonly > masked > hidden
    combined = fields.field_rules(["masker", "hider"], "loan")
    assert combined.rule("id_number") is FieldRule.MASKED
    assert combined.rule("note") is FieldRule.WRITABLE  # masker names no rule: it may update
    assert fields.field_rules(["hider", "viewer"], "loan").rule("id_number") is FieldRule.READONLY
    assert fields.field_rules(["masker", "editor"], "loan").rule("id_number") is FieldRule.WRITABLE
    assert fields.field_rules(["masker", "editor"], "loan").rule("rate") is FieldRule.WRITABLE
    assert fields.field_rules(["outsider", "hider"], "loan").rule("id_number") is FieldRule.HIDDEN


def test_field_rules_are_inherited_unless_overridden(fields: TenantEnforcer) -> None:
    junior = fields.field_rules(["junior"], "loan")
    assert junior == {"id_number": FieldRule.MASKED, "mobile": FieldRule.MASKED}
    assert junior.default is FieldRule.WRITABLE  # update inherited from masker
    overrider = fields.field_rules(["overrider"], "loan")
    assert overrider == {"id_number": FieldRule.READONLY, "mobile": FieldRule.MASKED}


def test_shipped_field_rules(gxdb: TenantEnforcer) -> None:
    finance = gxdb.field_rules(["finance"], "application")
    assert finance.rule("shareholders") is FieldRule.HIDDEN
    assert finance.rule("contact_mobile") is FieldRule.MASKED
    assert finance.rule("amount") is FieldRule.READONLY
    branch = gxdb.field_rules(["branch_manager"], "application")
    assert branch.rule("fee_rate_pct") is FieldRule.READONLY
    assert branch.rule("amount") is FieldRule.WRITABLE
    assert gxdb.field_rules(["risk_officer"], "application") == {}
