"""Role grants: inheritance, wildcards, deny by default."""

from danbao.authz.grants import effective_roles, is_allowed

PERMISSIONS = {
    "roles": [
        {"id": "viewer"},
        {"id": "manager", "inherits": ["viewer"]},
        {"id": "admin"},
    ],
    "grants": {
        "viewer": {"report:portfolio": ["read"]},
        "manager": {"form:*": ["read", "update"]},
        "admin": {"admin:definitions": ["publish"]},
    },
}


def test_inheritance_and_unknown_roles() -> None:
    assert effective_roles(PERMISSIONS, ["manager", "ghost"]) == {"manager", "viewer"}


def test_grants() -> None:
    assert is_allowed(PERMISSIONS, ["manager"], "report:portfolio", "read")
    assert is_allowed(PERMISSIONS, ["manager"], "form:application", "update")
    assert not is_allowed(PERMISSIONS, ["manager"], "form:application", "delete")
    assert not is_allowed(PERMISSIONS, ["viewer"], "form:application", "read")
    assert not is_allowed(PERMISSIONS, ["manager"], "formx:application", "read")
    assert not is_allowed(PERMISSIONS, [], "report:portfolio", "read")
    assert is_allowed(PERMISSIONS, ["admin"], "admin:definitions", "publish")
