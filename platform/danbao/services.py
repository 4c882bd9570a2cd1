"""The long-lived parts a running Danbao holds, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from danbao.auth.login import LoginPolicy
from danbao.auth.throttle import MemoryThrottle, RedisThrottle, Throttle
from danbao.authz.cache import EnforcerCache
from danbao.authz.enforcer import TenantEnforcer
from danbao.authz.propagation import (
    LocalPropagation,
    PolicyPropagation,
    Propagation,
    TenantCache,
)
from danbao.config import Settings
from danbao.crypto.master_key import load_master_key, load_previous_master_key
from danbao.crypto.tenant_keys import TenantKeys
from danbao.definitions import Bundle
from danbao.definitions.versions import ActiveBundles
from danbao.jobs import JobQueue, open_queue
from danbao.plugins import tenant_config
from danbao.plugins.gateway import PluginGateway
from danbao.records import reencrypt
from danbao.storage import ObjectStore, open_store
from danbao.tenancy.context import current_tenant
from danbao.tenancy.registry import (
    TTL_WITH_ANNOUNCEMENTS,
    TTL_WITHOUT_ANNOUNCEMENTS,
    TenantRegistry,
)

THROTTLE_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class TenantCaches:
    """Every per-tenant cache of a process, dropped together when a tenant changes."""

    caches: tuple[TenantCache, ...]

    def drop_tenant(self, tenant_id: str) -> int:
        return sum(cache.drop_tenant(tenant_id) for cache in self.caches)

    def clear(self) -> None:
        for cache in self.caches:
            cache.clear()


@dataclass
class Services:
    settings: Settings
    registry: TenantRegistry
    bundles: ActiveBundles
    throttle: Throttle
    login_policy: LoginPolicy
    queue: JobQueue
    store: ObjectStore
    redis: Redis | None
    master_key: bytes
    keys: TenantKeys
    enforcers: EnforcerCache
    propagation: Propagation
    plugins: PluginGateway

    @classmethod
    def build(cls, settings: Settings) -> Services:
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        throttle: Throttle = (
            RedisThrottle(redis, THROTTLE_WINDOW_SECONDS)
            if redis
            else MemoryThrottle(THROTTLE_WINDOW_SECONDS)
        )
        enforcers = EnforcerCache(settings.tenant_cache_size)
        registry = TenantRegistry(
            settings.tenant_registry_size,
            TTL_WITH_ANNOUNCEMENTS if redis else TTL_WITHOUT_ANNOUNCEMENTS,
        )
        master_key = load_master_key(settings)
        keys = TenantKeys(
            master_key, settings.tenant_cache_size * 2, load_previous_master_key(settings)
        )
        queue = open_queue(settings)
        reencrypt.configure(keys, queue)  # the key-rotation job's key ring and queue
        caches = TenantCaches((enforcers, registry, keys, tenant_config.CACHE))
        propagation: Propagation = (
            PolicyPropagation(redis, caches) if redis else LocalPropagation(caches)
        )
        return cls(
            settings=settings,
            registry=registry,
            bundles=ActiveBundles(settings.tenant_cache_size),
            throttle=throttle,
            login_policy=LoginPolicy(settings.login_max_failures, settings.login_lockout_seconds),
            queue=queue,
            store=open_store(settings),
            redis=redis,
            master_key=master_key,
            keys=keys,
            enforcers=enforcers,
            propagation=propagation,
            plugins=PluginGateway(keys, redis_url=settings.redis_url),
        )

    async def start(self) -> None:
        await self.propagation.start()

    async def enforcer(self) -> tuple[int, Bundle, TenantEnforcer] | None:
        """The tenant in context's current definitions and their compiled policy."""
        active = await self.bundles.current()
        if active is None:
            return None
        version, bundle = active
        tenant_id = str(current_tenant().tenant_id)
        return (
            version,
            bundle,
            self.enforcers.get_or_build(tenant_id, version, bundle.permissions, bundle.forms),
        )

    async def close(self) -> None:
        await self.propagation.stop()
        await self.queue.close()
        await self.plugins.aclose()
        if self.redis is not None:
            await self.redis.aclose()
