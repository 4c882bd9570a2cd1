"""EnforcerCache: lazy, bounded LRU keyed by (tenant, definition version)."""

from __future__ import annotations

from typing import Any

import pytest

from danbao.authz.cache import EnforcerCache


def permissions(action: str = "read") -> dict[str, Any]:
    return {
        "roles": [{"id": "clerk", "name": {"zh-CN": "职员"}}],
        "grants": {"clerk": {"form:loan": [action]}},
    }


def test_builds_once_per_tenant_and_version() -> None:
    cache = EnforcerCache(4)
    first = cache.get_or_build("t1", 1, permissions())
    assert cache.get_or_build("t1", 1, permissions("update")) is first  # cached: input unused
    assert first.tenant_id == "t1" and first.allowed(["clerk"], "form:loan", "read")
    other = cache.get_or_build("t2", 1, permissions())
    assert other is not first and other.tenant_id == "t2"


def test_a_new_version_is_a_new_key_and_supersedes_the_old() -> None:
    cache = EnforcerCache(4)
    v1 = cache.get_or_build("t1", 1, permissions("read"))
    v2 = cache.get_or_build("t1", 2, permissions("update"))
    assert v2 is not v1
    assert v2.allowed(["clerk"], "form:loan", "update")
    assert not v2.allowed(["clerk"], "form:loan", "read")
    assert cache.lru_order() == [("t1", 2)]
    # A straggler that read the head just before the publish still gets its version,
    # and does not push out the newer one.
    assert cache.get_or_build("t1", 1, permissions("read")).allowed(["clerk"], "form:loan", "read")
    assert sorted(cache.lru_order()) == [("t1", 1), ("t1", 2)]


def test_bounded_least_recently_used_goes_first() -> None:
    cache = EnforcerCache(3)
    for tenant in ("a", "b", "c"):
        cache.get_or_build(tenant, 1, permissions())
    cache.get_or_build("a", 1, permissions())  # a is now the most recent
    cache.get_or_build("d", 1, permissions())  # evicts b, the least recent
    assert len(cache) == 3
    assert cache.lru_order() == [("c", 1), ("a", 1), ("d", 1)]
    assert ("b", 1) not in cache
    for i in range(100):
        cache.get_or_build(f"t{i}", 1, permissions())
        assert len(cache) <= 3
    assert cache.lru_order() == [("t97", 1), ("t98", 1), ("t99", 1)]


def test_drop_tenant_and_clear() -> None:
    cache = EnforcerCache(8)
    cache.get_or_build("a", 1, permissions())
    cache.get_or_build("a", 3, permissions())
    cache.get_or_build("a", 2, permissions())  # older than 3: kept beside it
    cache.get_or_build("b", 1, permissions())
    assert cache.drop_tenant("a") == 2
    assert cache.lru_order() == [("b", 1)]
    assert cache.drop_tenant("a") == 0
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        EnforcerCache(0)
