"""Enqueueing onto arq (Redis), for production.

arq is maintenance-only upstream, so it stays behind this module and ``worker``: every
job travels as one arq function, ``danbao_run(name, tenant_id, tenant_slug, payload)``,
encoded as JSON rather than arq's default pickle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import default_queue_name, health_check_key_suffix
from redis.exceptions import RedisError

from danbao.jobs.registry import prepare

ARQ_FUNCTION = "danbao_run"


def _describe(value: object) -> str:
    # arq stores a failed job's exception as its result; keep its text, not the object.
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=_describe, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    return json.loads(data)


async def connect(redis_url: str) -> ArqRedis:
    # No connection retries: a request that enqueues should fail fast, not sleep for
    # seconds; the next enqueue tries again.
    settings = dataclasses.replace(RedisSettings.from_dsn(redis_url), conn_retries=0)
    return await create_pool(settings, job_serializer=dumps, job_deserializer=loads)


class ArqQueue:
    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        self._pool: ArqRedis | None = None
        self._lock = asyncio.Lock()

    async def _redis(self) -> ArqRedis:
        # Connect on first use: open_queue() is synchronous and runs before any loop work.
        async with self._lock:
            if self._pool is None:
                self._pool = await connect(self._redis_url)
            return self._pool

    async def enqueue(
        self,
        name: str,
        *,
        tenant_id: uuid.UUID | str,
        tenant_slug: str,
        payload: dict[str, Any],
        job_id: str | None = None,
        defer_seconds: float = 0,
    ) -> str:
        if defer_seconds < 0:
            raise ValueError("defer_seconds must not be negative")
        request = prepare(
            name, tenant_id=tenant_id, tenant_slug=tenant_slug, payload=payload, job_id=job_id
        )
        redis = await self._redis()
        # None back from arq means the id is pending or its result still kept: deduplicated.
        await redis.enqueue_job(
            ARQ_FUNCTION,
            request.name,
            request.tenant_id,
            request.tenant_slug,
            request.payload,
            _job_id=request.job_id,
            _defer_by=defer_seconds or None,
        )
        return request.job_id

    async def close(self) -> None:
        async with self._lock:
            if self._pool is not None:
                await self._pool.aclose(close_connection_pool=True)
                self._pool = None

    async def health(self) -> dict[str, Any]:
        try:
            redis = await self._redis()
            queued = await redis.zcard(default_queue_name)
            heartbeat = await redis.get(default_queue_name + health_check_key_suffix)
        except (RedisError, OSError) as exc:
            return {"ok": False, "detail": f"redis: {type(exc).__name__}: {exc}"}
        worker = heartbeat.decode() if heartbeat else "no worker heartbeat"
        return {"ok": True, "detail": f"redis reachable, {queued} queued; {worker}"}
