"""Finding a tenant by slug or host, with a bounded cache.

A change (suspension, resumption) is announced over Redis and every process drops its
entry at once (authz/propagation.py). Entries also expire: after a minute in the embedded
mode, which has no Redis to hear a command-line change by; after ten minutes otherwise,
a backstop only (a process that loses Redis clears the cache when it reconnects).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cachetools import TTLCache

from danbao.db.models import Tenant
from danbao.tenancy.context import TenantId

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
RESERVED_SLUGS = frozenset({"api", "ops", "static", "admin", "healthz", "www", "portal", "t"})
TTL_WITHOUT_ANNOUNCEMENTS = 60.0
TTL_WITH_ANNOUNCEMENTS = 600.0
_MISSING = object()


class InvalidSlug(ValueError):
    pass


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug) or slug.endswith("-"):
        raise InvalidSlug(
            f"tenant slug {slug!r} must be 2-63 lowercase letters, digits or '-', "
            "start with a letter and not end with '-'"
        )
    if slug in RESERVED_SLUGS:
        raise InvalidSlug(f"tenant slug {slug!r} is reserved")
    return slug


@dataclass(frozen=True)
class TenantInfo:
    id: TenantId
    slug: str
    name: str
    status: str
    suspended_reason: str | None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @classmethod
    def of(cls, row: Tenant) -> TenantInfo:
        return cls(TenantId(row.id), row.slug, row.name, row.status, row.suspended_reason)


class TenantRegistry:
    def __init__(self, maxsize: int = 1024, ttl: float = TTL_WITHOUT_ANNOUNCEMENTS) -> None:
        self._by_slug: TTLCache[str, TenantInfo] = TTLCache(maxsize, ttl)
        self._by_host: TTLCache[str, str | None] = TTLCache(maxsize, ttl)

    async def by_slug(self, slug: str) -> TenantInfo | None:
        # One .get(): a TTL entry can expire between a membership test and a read.
        cached = self._by_slug.get(slug, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        row = await Tenant.filter(slug=slug).first() if SLUG_RE.match(slug) else None
        info = TenantInfo.of(row) if row else None
        if info is not None:  # unknown slugs are not cached: they would evict real tenants
            self._by_slug[slug] = info
        return info

    async def slug_for_host(self, host: str) -> str | None:
        cached = self._by_host.get(host, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        row = await Tenant.filter(host=host).first()
        slug = row.slug if row else None
        self._by_host[host] = slug
        return slug

    def forget(self, slug: str) -> None:
        self._by_slug.pop(slug, None)
        self._by_host.clear()

    def drop_tenant(self, tenant_id: str) -> int:
        """Forget the tenant with this id (a change announced by another process)."""
        slugs = [s for s, info in list(self._by_slug.items()) if str(info.id) == tenant_id]
        for slug in slugs:
            self.forget(slug)
        return len(slugs)

    def clear(self) -> None:
        self._by_slug.clear()
        self._by_host.clear()
