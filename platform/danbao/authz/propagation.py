"""Telling every process that a tenant changed, over Redis pub/sub.

Receivers drop what they cache of that tenant: its enforcers, its registry entry (so a
suspension applies everywhere at once, whichever process or command made it), its keys
and its opened plug-in settings (announced after a plug-in is configured).

Enforcers are cached per (tenant, version), so publishing a new version needs no message:
the next request reads the new head and builds it. A user's roles are an input to every
check, not part of the cache, so editing them needs none either. The message is for
changes the version number does not capture (a tenant restored from an export reuses
version numbers with other content; an operator repairs a version in place): whoever
makes one publishes, and every process drops that tenant's enforcers and rebuilds on
the next request.

A plain asyncio task on one pub/sub connection; pycasbin's published Redis watcher runs
a thread per process. While disconnected a process may miss messages, so every
(re)subscription clears its whole cache: a burst of rebuilds is the price of never
serving a stale matrix after an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

CHANNEL = "danbao:tenant:changed"
START_TIMEOUT_SECONDS = 5.0
_RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)

log = logging.getLogger(__name__)


class TenantCache(Protocol):
    """What a process caches per tenant and can forget."""

    def drop_tenant(self, tenant_id: str) -> int: ...
    def clear(self) -> None: ...


async def announce(redis: Redis, tenant_id: str, version: int = 0) -> None:
    """Tell every serving process from outside one (the ``danbao`` command)."""
    body = {"tenant": tenant_id, "version": version, "origin": "announce"}
    await redis.publish(CHANNEL, json.dumps(body))


class Propagation(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, tenant_id: str, version: int) -> None: ...


class LocalPropagation:
    """The embedded mode's variant: one process, so only its own cache needs the news."""

    def __init__(self, cache: TenantCache) -> None:
        self.cache = cache

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, tenant_id: str, version: int) -> None:
        self.cache.drop_tenant(tenant_id)


class PolicyPropagation:
    """Publishes and applies "tenant T changed (now at version N)" on ``CHANNEL``.

    Note that Redis pub/sub ignores the database number: every client of the server
    shares the channel, which is harmless because tenant ids are unique.
    """

    def __init__(self, redis: Redis, cache: TenantCache, *, channel: str = CHANNEL) -> None:
        self.redis = redis
        self.cache = cache
        self.channel = channel
        self.origin = uuid.uuid4().hex  # our own messages need no second drop
        # Times this process (re)subscribed; above one means Redis was lost and the cache
        # cleared (for health pages and tests).
        self.subscriptions = 0
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe and wait for the server's confirmation, so a change published by
        another process right after ``start`` returns is not missed; then listen.

        Raises (TimeoutError, redis ConnectionError) if Redis cannot confirm in time: a
        process that would not hear changes should not start serving.
        """
        if self._task is not None:
            return
        pubsub = self.redis.pubsub()
        try:
            async with asyncio.timeout(START_TIMEOUT_SECONDS):
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "subscribe":
                        break
        except BaseException:
            await pubsub.aclose()
            raise
        self._pubsub = pubsub
        self.subscriptions += 1
        self.cache.clear()
        self._task = asyncio.create_task(self._listen(), name="danbao-authz-propagation")

    async def stop(self) -> None:
        task, pubsub = self._task, self._pubsub
        self._task = self._pubsub = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pubsub is not None:
            await pubsub.aclose()

    async def publish(self, tenant_id: str, version: int) -> None:
        """Drop ``tenant_id`` here at once, then tell every other process."""
        self.cache.drop_tenant(tenant_id)
        body = {"tenant": tenant_id, "version": version, "origin": self.origin}
        await self.redis.publish(self.channel, json.dumps(body))

    async def _listen(self) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return
        failures = 0
        while True:
            try:
                async for message in pubsub.listen():
                    failures = 0
                    self._apply(message)
                return  # listen() ends only once nothing is subscribed
            except (RedisError, OSError) as exc:
                # The next listen() reconnects and re-subscribes (redis-py's on_connect);
                # whatever was published meanwhile is lost, hence the clear.
                self.cache.clear()
                delay = _RETRY_SECONDS[min(failures, len(_RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("authz propagation lost Redis (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    def _apply(self, message: dict[str, Any]) -> None:
        if message["type"] == "subscribe":  # a re-subscription after a reconnect
            self.subscriptions += 1
            self.cache.clear()
            return
        if message["type"] != "message":
            return
        try:
            body = json.loads(message["data"])
            tenant_id, origin = str(body["tenant"]), body.get("origin")
        except (ValueError, KeyError, TypeError):
            log.warning("authz propagation ignored a malformed message: %r", message["data"])
            return
        if origin != self.origin:
            self.cache.drop_tenant(tenant_id)
