"""Tenant enforcers kept per (tenant, definition version), lazily built, bounded (LRU).

A new definition version is a new key, so publishing needs no invalidation: the next
request asks for the new version and builds it. Ten thousand mostly idle tenants cost
only the ``maxsize`` most recently used enforcers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .compiler import compile_permissions
from .enforcer import TenantEnforcer

Key = tuple[str, int]


class EnforcerCache:
    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("EnforcerCache needs room for at least one enforcer")
        self.maxsize = maxsize
        # Oldest use first. Plain OrderedDict rather than cachetools: a hit here is on
        # every request, and move_to_end is the whole cost of keeping LRU order.
        self._entries: OrderedDict[Key, TenantEnforcer] = OrderedDict()
        self._versions: dict[str, set[int]] = {}  # tenant -> its cached versions

    def get_or_build(
        self,
        tenant_id: str,
        version: int,
        permissions: Mapping[str, Any],
        forms: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> TenantEnforcer:
        """The enforcer for ``tenant_id`` at definition ``version``, compiled from
        ``permissions`` and ``forms`` (that version's files) if not cached."""
        key = (tenant_id, version)
        enforcer = self._entries.get(key)
        if enforcer is not None:
            self._entries.move_to_end(key)
            return enforcer
        enforcer = TenantEnforcer(compile_permissions(tenant_id, permissions, forms))
        # An older version of this tenant will only be asked for by a request that read
        # the head just before a publish; free it now rather than wait for LRU.
        for old in [v for v in self._versions.get(tenant_id, ()) if v < version]:
            self._remove((tenant_id, old))
        self._entries[key] = enforcer
        self._versions.setdefault(tenant_id, set()).add(version)
        if len(self._entries) > self.maxsize:
            self._remove(next(iter(self._entries)))
        return enforcer

    def drop_tenant(self, tenant_id: str) -> int:
        """Forget every cached version of ``tenant_id``; returns how many were dropped."""
        versions = list(self._versions.get(tenant_id, ()))
        for version in versions:
            self._remove((tenant_id, version))
        return len(versions)

    def clear(self) -> None:
        self._entries.clear()
        self._versions.clear()

    def lru_order(self) -> list[Key]:
        """Cached keys, least recently used first."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def _remove(self, key: Key) -> None:
        del self._entries[key]
        tenant_id, version = key
        versions = self._versions[tenant_id]
        versions.discard(version)
        if not versions:
            del self._versions[tenant_id]
