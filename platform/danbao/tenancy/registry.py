"""Finding a tenant by slug or host, with a small bounded cache.

Entries live a few seconds, so a suspension made by another process takes effect
almost at once; this process drops its own entry immediately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cachetools import TTLCache

from danbao.db.models import Tenant
from danbao.tenancy.context import TenantId

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
RESERVED_SLUGS = frozenset({"api", "ops", "static", "admin", "healthz", "www", "portal", "t"})
_TTL_SECONDS = 3.0


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
    def __init__(self, maxsize: int = 1024) -> None:
        self._by_slug: TTLCache[str, TenantInfo | None] = TTLCache(maxsize, _TTL_SECONDS)
        self._by_host: TTLCache[str, str | None] = TTLCache(maxsize, _TTL_SECONDS)

    async def by_slug(self, slug: str) -> TenantInfo | None:
        if slug in self._by_slug:
            return self._by_slug[slug]
        row = await Tenant.filter(slug=slug).first() if SLUG_RE.match(slug) else None
        info = TenantInfo.of(row) if row else None
        self._by_slug[slug] = info
        return info

    async def slug_for_host(self, host: str) -> str | None:
        if host in self._by_host:
            return self._by_host[host]
        row = await Tenant.filter(host=host).first()
        self._by_host[host] = row.slug if row else None
        return self._by_host[host]

    def forget(self, slug: str) -> None:
        self._by_slug.pop(slug, None)
        self._by_host.clear()
