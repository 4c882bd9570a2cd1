"""Data scope as query filters on the records' ``created_by`` and ``department``."""

from __future__ import annotations

import uuid

from danbao.authz.departments import DepartmentTree
from danbao.authz.scope import NOTHING, Scope, ScopeKind, scope_filter, widest

TREE = DepartmentTree.build(
    [
        {"id": "hq"},
        {"id": "chengdu", "parent": "hq"},
        {"id": "chengdu_biz", "parent": "chengdu"},
        {"id": "chengdu_biz_2", "parent": "chengdu_biz"},
        {"id": "mianyang", "parent": "hq"},
    ]
)
USER = uuid.UUID("01900000-0000-7000-8000-000000000001")


def filter_for(kind: ScopeKind, department: str | None = "chengdu") -> object:
    return scope_filter(Scope(kind), user_id=USER, department=department, tree=TREE)


def test_each_kind_becomes_a_filter() -> None:
    assert filter_for(ScopeKind.NONE) is None
    assert filter_for(ScopeKind.OWN) == {"created_by": USER}
    assert filter_for(ScopeKind.DEPARTMENT) == {"department": "chengdu"}
    assert filter_for(ScopeKind.DEPARTMENT_TREE) == {
        "department__in": ["chengdu", "chengdu_biz", "chengdu_biz_2"]
    }
    assert filter_for(ScopeKind.ALL) == {}
    assert filter_for(ScopeKind.DEPARTMENT_TREE, "mianyang") == {"department__in": ["mianyang"]}


def test_a_user_in_no_department_sees_only_their_own() -> None:
    assert filter_for(ScopeKind.DEPARTMENT, None) == {"created_by": USER}
    assert filter_for(ScopeKind.DEPARTMENT_TREE, None) == {"created_by": USER}
    assert filter_for(ScopeKind.ALL, None) == {}
    assert filter_for(ScopeKind.NONE, None) is None


def test_resolve_names_the_departments_covered() -> None:
    assert Scope(ScopeKind.DEPARTMENT_TREE).resolve("chengdu_biz", TREE).departments == {
        "chengdu_biz",
        "chengdu_biz_2",
    }
    assert Scope(ScopeKind.DEPARTMENT).resolve("hq", TREE).departments == {"hq"}
    assert Scope(ScopeKind.ALL).resolve("hq", TREE).departments is None


def test_widest() -> None:
    kinds = list(ScopeKind)
    assert kinds == [
        ScopeKind.NONE,
        ScopeKind.OWN,
        ScopeKind.DEPARTMENT,
        ScopeKind.DEPARTMENT_TREE,
        ScopeKind.ALL,
    ]
    for i, narrow in enumerate(kinds):
        for wide in kinds[i:]:
            assert widest([Scope(wide), Scope(narrow)]).kind is wide
            assert widest([Scope(narrow), Scope(wide)]).kind is wide
    assert widest([]) is NOTHING
