"""Sign-in throttling per client address, shared through Redis when there is one.

Account lockout (persisted on the user) stops guessing one password; this stops one
address from sweeping many accounts, including e-mails that do not exist.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis


class Throttle(Protocol):
    async def hit(self, key: str) -> int: ...
    async def count(self, key: str) -> int: ...


class MemoryThrottle:
    """Fixed windows kept in a bounded dict (one process; the embedded mode)."""

    def __init__(self, window_seconds: int, max_keys: int = 10_000) -> None:
        self.window = window_seconds
        self.max_keys = max_keys
        self._hits: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _live(self, key: str) -> tuple[float, int]:
        now = time.monotonic()
        start, n = self._hits.get(key, (now, 0))
        return (now, 0) if now - start >= self.window else (start, n)

    async def hit(self, key: str) -> int:
        start, n = self._live(key)
        self._hits[key] = (start, n + 1)
        self._hits.move_to_end(key)
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return n + 1

    async def count(self, key: str) -> int:
        return self._live(key)[1]


class RedisThrottle:
    def __init__(self, redis: Redis, window_seconds: int) -> None:
        self.redis = redis
        self.window = window_seconds

    async def hit(self, key: str) -> int:
        name = f"danbao:throttle:{key}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self.window, nx=True)
            n, _ = await pipe.execute()
        return int(n)

    async def count(self, key: str) -> int:
        raw = await self.redis.get(f"danbao:throttle:{key}")
        return int(raw or 0)
