"""Where the circuit breakers of every process keep their state: Redis, read in one trip.

purgatory's Redis repository reads a circuit as two GETs (its state, then its failure
count) before every call. This one reads both keys in one MGET, which is also one
consistent view of the two; the keys, their values and every write stay purgatory's.
"""

from __future__ import annotations

import json
from typing import Any

from purgatory import AsyncRedisUnitOfWork
from purgatory.domain.model import Context
from purgatory.service._async.repository import AsyncRedisRepository


class _States(AsyncRedisRepository):
    async def get(self, name: str) -> Context | None:
        key = f"{self.prefix}{name}"
        data: Any
        failures: Any
        data, failures = await self.redis.mget(key, f"{key}::failure_count")
        if not data:
            return None
        breaker = json.loads(data)
        if failures:  # bytes, so a stored b"0" counts too, exactly as purgatory reads it
            breaker["failure_count"] = int(failures)
        return Context(**breaker)


class RedisBreakerStore(AsyncRedisUnitOfWork):
    """purgatory's Redis unit of work with the one-trip read."""

    def __init__(self, url: str) -> None:  # purgatory's would open a client it never uses
        self.contexts = _States(url)
