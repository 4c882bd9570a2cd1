"""The tenant's plug-in settings as the call path uses them: opened once, kept per process.

Every plug-in call needs the tenant's settings with their secrets opened; reading them
took a transaction of its own (five round trips) on every call. They are kept here by
(tenant, plug-in), bounded and expiring, and forgotten:

- in this process, by ``tenant_config.configure`` as it saves;
- in every process once the change has committed: the routes that configure announce the
  tenant (``authz/propagation.py``) and each process drops what it holds of it, these
  settings included;
- after ``TTL_S`` at the latest, a backstop for a change nobody announced (loading the
  demo, a message missed while Redis was away).

A load that began before a drop does not keep what it read: it may be the row as it was
before the change committed. Only enabled settings are kept (a refusal reads again).
Secrets are in clear in this memory, as they are in a plug-in's: the cache's ``repr``
shows a count, never a value, and nothing here logs.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from cachetools import TTLCache

SIZE = 1024
TTL_S = 60.0

T = TypeVar("T")


class SettingsCache(Generic[T]):
    """Settings by (tenant id, plug-in id), LRU-bounded, each entry kept ``ttl`` seconds."""

    def __init__(self, maxsize: int = SIZE, ttl: float = TTL_S) -> None:
        self._entries: TTLCache[tuple[str, str], T] = TTLCache(maxsize, ttl)
        self._generation = 0

    def __repr__(self) -> str:
        return f"SettingsCache({len(self._entries)} cached)"

    @property
    def generation(self) -> int:
        """Read before loading, handed back to ``put``: a drop in between voids the load."""
        return self._generation

    def get(self, tenant_id: str, plugin_id: str) -> T | None:
        return self._entries.get((tenant_id, plugin_id))

    def put(self, tenant_id: str, plugin_id: str, value: T, generation: int) -> None:
        if generation == self._generation:
            self._entries[(tenant_id, plugin_id)] = value

    def forget(self, tenant_id: str, plugin_id: str) -> None:
        self._generation += 1
        self._entries.pop((tenant_id, plugin_id), None)

    def drop_tenant(self, tenant_id: str) -> int:
        self._generation += 1
        gone = [k for k in list(self._entries.keys()) if k[0] == tenant_id]
        for k in gone:
            self._entries.pop(k, None)
        return len(gone)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
