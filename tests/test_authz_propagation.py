"""Policy change propagation between processes, on a real Redis.

Two "processes" are two caches, each with its own Redis client and PolicyPropagation.
Pub/sub ignores the database number, so every tenant id here is fresh: messages of
anyone else on the same server cannot touch them, nor ours theirs.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from danbao.authz.cache import EnforcerCache
from danbao.authz.propagation import CHANNEL, LocalPropagation, PolicyPropagation

REDIS_URL = os.environ.get("DANBAO_TEST_AUTHZ_REDIS_URL", "redis://127.0.0.1:6379/6")
MOMENT = 2.0  # seconds a change may take to reach another process

PERMISSIONS: dict[str, Any] = {
    "roles": [{"id": "clerk", "name": {"zh-CN": "职员"}}],
    "grants": {"clerk": {"form:loan": ["read"]}},
}


def fresh() -> str:
    return str(uuid.uuid4())


async def eventually(check: Callable[[], bool], within: float = MOMENT) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(0.01)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client on the tests' own database, flushed before and after (that db only)."""
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


class Process:
    """What one web process holds: its Redis client, its cache, its propagation."""

    def __init__(self, name: str) -> None:
        self.redis = Redis.from_url(REDIS_URL, client_name=name)
        self.cache = EnforcerCache(16)
        self.propagation = PolicyPropagation(self.redis, self.cache)

    def load(self, *tenants: str, version: int = 1) -> None:
        for tenant in tenants:
            self.cache.get_or_build(tenant, version, PERMISSIONS)

    def tenants(self) -> set[str]:
        return {tenant for tenant, _ in self.cache.lru_order()}

    async def close(self) -> None:
        await self.propagation.stop()
        await self.redis.aclose()


@pytest.fixture
async def processes(redis: Redis) -> AsyncIterator[tuple[Process, Process]]:
    a, b = Process(f"danbao-test-a-{fresh()}"), Process(f"danbao-test-b-{fresh()}")
    await a.propagation.start()
    await b.propagation.start()
    yield a, b
    await a.close()
    await b.close()


async def test_a_change_reaches_the_other_process(processes: tuple[Process, Process]) -> None:
    a, b = processes
    changed, untouched = fresh(), fresh()
    a.load(changed, untouched)
    b.load(changed, untouched)
    b.cache.get_or_build(changed, 2, PERMISSIONS)  # two versions cached: both must go

    await a.propagation.publish(changed, 3)
    assert a.tenants() == {untouched}  # the publisher drops its own at once
    await eventually(lambda: changed not in b.tenants())
    assert b.tenants() == {untouched}


async def test_own_and_malformed_messages(redis: Redis, processes: tuple[Process, Process]) -> None:
    a, b = processes
    tenant, marker = fresh(), fresh()
    await a.propagation.publish(tenant, 2)
    a.load(tenant, version=2)  # rebuilt at once, before its own message comes back
    await redis.publish(CHANNEL, "not json")
    await redis.publish(CHANNEL, json.dumps({"version": 2}))
    await redis.publish(CHANNEL, json.dumps([1, 2]))
    a.load(marker)
    # Delivered in order: once the marker's drop arrives, everything before it has too.
    await b.propagation.publish(marker, 2)
    await eventually(lambda: marker not in a.tenants())
    assert (tenant, 2) in a.cache  # its own message was not applied twice
    assert a.propagation.subscriptions == 1


async def test_a_lost_connection_clears_the_cache_and_listening_resumes(
    redis: Redis, processes: tuple[Process, Process]
) -> None:
    a, b = processes
    b.load(fresh(), fresh())
    # Kill only b's connections, found by their client name, never anyone else's.
    name = b.redis.get_connection_kwargs()["client_name"]
    for client in await redis.client_list():
        if client["name"] == name:
            await redis.client_kill_filter(_id=client["id"])
    # Messages published while b was away are lost to it, so it must forget everything.
    await eventually(lambda: b.propagation.subscriptions == 2)
    assert len(b.cache) == 0

    tenant = fresh()
    b.load(tenant)
    await a.propagation.publish(tenant, 2)
    await eventually(lambda: tenant not in b.tenants())


async def test_start_and_stop() -> None:
    process = Process(f"danbao-test-c-{fresh()}")
    try:
        await process.propagation.start()
        await process.propagation.start()  # a second start is a no-op
        assert process.propagation.subscriptions == 1
    finally:
        await process.close()
    await process.propagation.stop()  # and so is a second stop


async def test_local_propagation_drops_in_process() -> None:
    cache = EnforcerCache(4)
    propagation = LocalPropagation(cache)
    await propagation.start()
    cache.get_or_build("t1", 1, PERMISSIONS)
    cache.get_or_build("t2", 1, PERMISSIONS)
    await propagation.publish("t1", 2)
    assert cache.lru_order() == [("t2", 1)]
    await propagation.stop()


async def test_start_fails_loudly_without_redis() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    propagation = PolicyPropagation(unreachable, EnforcerCache(4))
    try:
        with pytest.raises((RedisConnectionError, OSError)):
            await propagation.start()
        assert propagation.subscriptions == 0
    finally:
        await propagation.stop()
        await unreachable.aclose()
