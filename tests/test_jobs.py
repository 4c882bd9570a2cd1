"""Jobs: the inline runner and arq on a real Redis run the same jobs in the tenant's context."""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from danbao.config import load_settings
from danbao.jobs import (
    ArqQueue,
    InlineQueue,
    JobQueue,
    TenantMismatch,
    UnknownJob,
    job,
    open_queue,
    registered_jobs,
)
from danbao.jobs.registry import unregister
from danbao.jobs.worker import WorkerRun, run_worker
from danbao.tenancy.context import (
    Principal,
    TenantContext,
    TenantId,
    current_tenant,
    tenant_scope,
)

REDIS_URL = "redis://127.0.0.1:6379/5"  # this module's own database; flushed around each test

TENANT_A = TenantContext(TenantId(uuid.uuid4()), "alpha", Principal("user", "a1"))
TENANT_B = TenantContext(TenantId(uuid.uuid4()), "beta", Principal("user", "b1"))


@dataclasses.dataclass(frozen=True)
class Seen:
    tenant_id: str
    slug: str
    principal_kind: str
    principal_id: str
    payload: dict[str, Any]


@pytest.fixture
def seen() -> Iterator[list[Seen]]:
    """Registers ``test.record`` and ``test.fail`` for one test; both run in this process."""
    records: list[Seen] = []

    @job("test.record")
    async def record(payload: dict[str, Any]) -> dict[str, Any]:
        ctx = current_tenant()
        principal = ctx.principal
        records.append(Seen(str(ctx.tenant_id), ctx.slug, principal.kind, principal.id, payload))
        return {"not": "kept"}

    @job("test.fail")
    async def fail(payload: dict[str, Any]) -> None:
        raise RuntimeError(f"boom {payload['n']}")

    yield records
    unregister("test.record")
    unregister("test.fail")


async def _flush() -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


@pytest.fixture(params=["inline", "arq"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    q: JobQueue
    if request.param == "inline":
        q = InlineQueue()
    else:
        await _flush()
        q = ArqQueue(REDIS_URL)
    yield q
    await q.close()
    if request.param == "arq":
        await _flush()


async def run_all(queue: JobQueue) -> WorkerRun | None:
    """Run everything enqueued: drain the inline runner, or a burst arq worker."""
    if isinstance(queue, InlineQueue):
        await queue.drain()
        return None
    return await run_worker(REDIS_URL, burst=True, poll_delay=0.05)


def enqueue_for(
    queue: JobQueue, tenant: TenantContext, name: str, payload: dict[str, Any], **options: Any
) -> Any:
    return queue.enqueue(
        name, tenant_id=tenant.tenant_id, tenant_slug=tenant.slug, payload=payload, **options
    )


async def test_job_runs_in_its_tenant_context(queue: JobQueue, seen: list[Seen]) -> None:
    with tenant_scope(TENANT_A):  # enqueued from a request of A's user
        await enqueue_for(queue, TENANT_A, "test.record", {"project": "P-1", "amount": 1.5})
    await enqueue_for(queue, TENANT_B, "test.record", {"project": "P-2", "tags": ["x"]})
    await run_all(queue)

    assert sorted(seen, key=lambda s: s.slug) == [
        Seen(str(TENANT_A.tenant_id), "alpha", "system", "job:test.record", {
            "project": "P-1", "amount": 1.5,
        }),
        Seen(str(TENANT_B.tenant_id), "beta", "system", "job:test.record", {
            "project": "P-2", "tags": ["x"],
        }),
    ]  # fmt: skip


async def test_payload_arrives_as_json(queue: JobQueue, seen: list[Seen]) -> None:
    # Tuples become lists and int keys strings in both queues alike: what arq would deliver.
    await enqueue_for(queue, TENANT_A, "test.record", {"pair": (1, 2), "by_id": {7: "x"}})
    await run_all(queue)
    assert seen[0].payload == {"pair": [1, 2], "by_id": {"7": "x"}}


async def test_job_id_deduplicates(queue: JobQueue, seen: list[Seen]) -> None:
    first = await enqueue_for(queue, TENANT_A, "test.record", {"n": 1}, job_id="remind:task-9")
    second = await enqueue_for(queue, TENANT_A, "test.record", {"n": 2}, job_id="remind:task-9")
    # The same id in another tenant is another job: ids are scoped per tenant.
    other = await enqueue_for(queue, TENANT_B, "test.record", {"n": 3}, job_id="remind:task-9")
    assert first == second == f"{TENANT_A.tenant_id}:remind:task-9"
    assert other == f"{TENANT_B.tenant_id}:remind:task-9"
    await run_all(queue)

    # Still remembered after it ran (arq keeps the result, the inline runner the id).
    await enqueue_for(queue, TENANT_A, "test.record", {"n": 4}, job_id="remind:task-9")
    await run_all(queue)
    assert sorted((s.slug, s.payload["n"]) for s in seen) == [("alpha", 1), ("beta", 3)]


async def test_generated_ids_do_not_deduplicate(queue: JobQueue, seen: list[Seen]) -> None:
    ids = {await enqueue_for(queue, TENANT_A, "test.record", {"n": n}) for n in range(3)}
    assert len(ids) == 3
    await run_all(queue)
    assert sorted(s.payload["n"] for s in seen) == [0, 1, 2]


@pytest.mark.parametrize(
    "payload",
    [{"when": object()}, {"raw": b"bytes"}, {"set": {1, 2}}, {"nan": float("nan")}, ["list"]],
)
async def test_non_json_payload_is_refused(queue: JobQueue, seen: list[Seen], payload: Any) -> None:
    with pytest.raises(TypeError, match=r"test\.record"):
        await enqueue_for(queue, TENANT_A, "test.record", payload)
    await run_all(queue)
    assert seen == []


async def test_unknown_job_is_refused_at_enqueue(queue: JobQueue) -> None:
    with pytest.raises(UnknownJob):
        await enqueue_for(queue, TENANT_A, "test.no_such_job", {})


async def test_enqueue_for_another_tenant_is_refused(queue: JobQueue, seen: list[Seen]) -> None:
    with tenant_scope(TENANT_A), pytest.raises(TenantMismatch):
        await enqueue_for(queue, TENANT_B, "test.record", {})
    await run_all(queue)
    assert seen == []


@pytest.mark.parametrize(
    "options",
    [{"tenant_id": "not-a-uuid"}, {"tenant_slug": ""}, {"job_id": ""}, {"job_id": "x" * 201}],
)
async def test_bad_enqueue_arguments(queue: JobQueue, seen: list[Seen], options: Any) -> None:
    arguments: dict[str, Any] = {
        "tenant_id": TENANT_A.tenant_id,
        "tenant_slug": "alpha",
        "payload": {},
        **options,
    }
    with pytest.raises(ValueError):
        await queue.enqueue("test.record", **arguments)
    with pytest.raises(ValueError, match="negative"):
        await enqueue_for(queue, TENANT_A, "test.record", {}, defer_seconds=-1)


async def test_deferred_job(queue: JobQueue, seen: list[Seen]) -> None:
    started = time.monotonic()
    await enqueue_for(queue, TENANT_A, "test.record", {"n": 1}, defer_seconds=0.3)
    await run_all(queue)
    assert time.monotonic() - started >= 0.3
    assert [s.payload for s in seen] == [{"n": 1}]


async def test_health(queue: JobQueue) -> None:
    health = await queue.health()
    assert health["ok"] is True
    assert health["detail"]


async def test_inline_failures_are_isolated(
    seen: list[Seen], caplog: pytest.LogCaptureFixture
) -> None:
    queue = InlineQueue()
    with caplog.at_level(logging.ERROR, logger="danbao.jobs.inline"):
        failed_id = await enqueue_for(queue, TENANT_A, "test.fail", {"n": 1})
        await enqueue_for(queue, TENANT_A, "test.record", {"n": 2})
        await queue.drain()
    assert [s.payload for s in seen] == [{"n": 2}]
    assert [(f.job_id, f.name, f.error) for f in queue.failures] == [
        (failed_id, "test.fail", "RuntimeError('boom 1')")
    ]
    assert "job test.fail failed" in caplog.text
    assert (await queue.health())["detail"] == "inline runner: 0 pending, 1 failed"


async def test_inline_close_cancels_pending_jobs(seen: list[Seen]) -> None:
    queue = InlineQueue()
    await enqueue_for(queue, TENANT_A, "test.record", {}, defer_seconds=30)
    await queue.close()
    await queue.drain()
    assert seen == []


async def test_arq_failure_does_not_stop_the_worker(seen: list[Seen]) -> None:
    await _flush()
    queue = ArqQueue(REDIS_URL)
    try:
        await enqueue_for(queue, TENANT_A, "test.fail", {"n": 1})
        await enqueue_for(queue, TENANT_B, "test.record", {"n": 2})
        result = await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
    finally:
        await queue.close()
        await _flush()
    assert result == WorkerRun(complete=1, failed=1, retried=0)
    assert [(s.slug, s.payload) for s in seen] == [("beta", {"n": 2})]


async def test_arq_stores_jobs_as_json_not_pickle(seen: list[Seen]) -> None:
    await _flush()
    queue = ArqQueue(REDIS_URL)
    redis = Redis.from_url(REDIS_URL)
    try:
        job_id = await enqueue_for(queue, TENANT_A, "test.record", {"n": 1}, job_id="j1")
        stored = json.loads(await redis.get(f"arq:job:{job_id}"))
        assert stored["f"] == "danbao_run"
        assert stored["a"] == ["test.record", str(TENANT_A.tenant_id), "alpha", {"n": 1}]
        await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
        result = json.loads(await redis.get(f"arq:result:{job_id}"))
        assert result["s"] is True
        assert result["r"] is None  # the job's return value is not kept in Redis
    finally:
        await redis.aclose()
        await queue.close()
        await _flush()


async def test_worker_hooks_run(seen: list[Seen]) -> None:
    await _flush()
    calls: list[str] = []

    async def startup(ctx: dict[str, Any]) -> None:
        calls.append("startup")

    async def shutdown(ctx: dict[str, Any]) -> None:
        calls.append("shutdown")

    queue = ArqQueue(REDIS_URL)
    try:
        await enqueue_for(queue, TENANT_A, "test.record", {})
        await run_worker(
            REDIS_URL, burst=True, poll_delay=0.05, on_startup=startup, on_shutdown=shutdown
        )
    finally:
        await queue.close()
        await _flush()
    assert calls == ["startup", "shutdown"]
    assert len(seen) == 1


async def test_arq_health_reports_unreachable_redis() -> None:
    queue = ArqQueue("redis://127.0.0.1:1/0")
    health = await queue.health()
    await queue.close()
    assert health["ok"] is False


def test_registry_rules(seen: list[Seen]) -> None:
    assert {"test.record", "test.fail"} <= set(registered_jobs())
    with pytest.raises(ValueError, match="already registered"):
        job("test.record")(_noop)
    with pytest.raises(ValueError, match="lower-case"):
        job("Test Record")
    assert "test.record" in registered_jobs()


async def _noop(payload: dict[str, Any]) -> None:
    return None


def test_open_queue_follows_settings() -> None:
    settings = dataclasses.replace(load_settings(), redis_url=None)
    assert isinstance(open_queue(settings), InlineQueue)
    assert isinstance(open_queue(dataclasses.replace(settings, redis_url=REDIS_URL)), ArqQueue)


_request_state: contextvars.ContextVar[str] = contextvars.ContextVar("request_state", default="")


async def test_inline_job_does_not_inherit_the_enqueuers_context(seen: list[Seen]) -> None:
    observed: list[str] = []

    @job("test.observe")
    async def observe(payload: dict[str, Any]) -> None:
        observed.append(_request_state.get())

    try:
        queue = InlineQueue()
        token = _request_state.set("request's open transaction")
        await enqueue_for(queue, TENANT_A, "test.observe", {})
        _request_state.reset(token)
        await queue.drain()
    finally:
        unregister("test.observe")
    assert observed == [""]
