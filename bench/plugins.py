"""Plug-ins: what the one call path costs per call, against calling the plug-in directly.

A do-nothing timestamping plug-in answers instantly, so every microsecond measured is the
call path's own: the tenant's settings (decrypted), the keyed request hash, the reuse
lookup, the Redis moving-window rate limit and circuit breaker, the retry wrapper and
timeout, the encrypted result row and the hash-chained audit event — on PostgreSQL as the
app role under row-level security, as in production. The baseline, in the same run, is
``await plugin.stamp(request)``. A second figure is the reuse path (an answer found within
the tenant's window instead of a new query).

    .venv/bin/python bench/plugins.py            # 2,000 calls each
    .venv/bin/python bench/plugins.py --quick    # 200 calls each

Then verified vendor callbacks per second: distinct e签宝 callbacks, each signed, posted
to the tenant's callback URL by 20 concurrent clients through the whole app (signature
check, de-duplication row, audit event), against verifying the same signatures alone.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from tortoise.transactions import in_transaction

from benchlib import bench_settings, drop_database, percentile, print_header, recreate_database
from danbao.config import REPO_ROOT
from danbao.crypto.master_key import load_master_key
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.plugins import Label, Plugin, PluginKind, results
from danbao.plugins.esign_cn import EsignV3, callback_signature
from danbao.plugins.gateway import PluginGateway
from danbao.plugins.sdk import Operation
from danbao.plugins.tenant_config import configure
from danbao.provisioning import create_tenant
from danbao.tenancy.context import Principal, TenantContext, tenant_scope
from danbao.web.app import create_app

BENCH = "plugins"
METRIC = "call_overhead_us"
GOAL_US = 5000.0  # 5 ms: a twentieth of a fast vendor's 100 ms answer
DB_NAME = "danbao_bench_plugins"
REDIS_DB = 7
STAMP = results.Timestamp("0" * 64, "2026-01-01T00:00:00+00:00", "bench", "token")


class NullStamp(Plugin):
    id = "bench.null"
    kind = PluginKind.TIMESTAMPING
    title = Label("空插件", "Null")
    rate_per_minute = 10**9

    async def stamp(self, request: results.StampRequest) -> results.Timestamp:
        return STAMP


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    for i in range(min(50, n)):  # warm-up
        await call(-i - 1)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def summary(name: str, samples: list[float]) -> dict[str, float]:
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    print(f"{name:<22} p50 {p50:10.1f} us   p99 {p99:10.1f} us   ({len(samples)} calls)")
    return {"p50": p50, "p99": p99}


async def run(calls: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as var_dir:
        settings = bench_settings(Path(var_dir), DB_NAME, REDIS_DB)
        await recreate_database(DB_NAME)
        try:
            await run_migrations(settings)
            await open_db(settings, "owner")
            try:
                tenant, _ = await create_tenant(
                    "bench",
                    REPO_ROOT / "tenants" / "_template",
                    admin_email="admin@bench.test",
                    admin_password="Bench-password-2026",
                    operator="bench",
                )
            finally:
                await close_db()
            await open_db(settings, "app")
            try:
                figures = await measure(settings, tenant.id, calls)
            finally:
                await close_db()
            return figures + await callbacks(settings, tenant.id, calls)
        finally:
            await drop_database(DB_NAME)


async def measure(settings: Any, tenant_id: Any, calls: int) -> list[dict[str, Any]]:
    keys = TenantKeys(load_master_key(settings))
    gateway = PluginGateway(
        keys, redis_url=settings.redis_url, lookup={NullStamp.id: NullStamp}.__getitem__
    )
    ctx = TenantContext(tenant_id, "bench", Principal("user", "bench", "bench"))
    plugin = NullStamp({})

    def request(i: int) -> results.StampRequest:
        return results.StampRequest(hashlib.sha256(str(i).encode()).hexdigest())

    async def direct(i: int) -> Any:
        return await plugin.stamp(request(i))

    async def through(i: int) -> Any:
        return await gateway.call(NullStamp.id, "stamp", request(i), purpose="bench")

    with tenant_scope(ctx):
        async with in_transaction():
            await configure(keys, NullStamp, settings={}, policy={"reuse_days": 0})
        baseline = summary("direct call", await timed(calls, direct))
        path = summary("through the call path", await timed(calls, through))
        # Reuse needs an operation that may be reused: answer the same request again.
        reusable = dict(NullStamp.operations())
        reusable["stamp"] = Operation(
            "stamp", results.StampRequest, results.Timestamp, reusable=True
        )
        NullStamp.operations = classmethod(lambda cls: reusable)  # type: ignore[method-assign]
        async with in_transaction():
            await configure(keys, NullStamp, settings={}, policy={"reuse_days": 1})
        await through(0)
        reused = summary("answer reused", await timed(calls, lambda i: through(0)))
    await gateway.aclose()
    overhead = path["p50"] - baseline["p50"]
    print(f"call path overhead: {overhead:.1f} us per call (p50), goal < {GOAL_US:.0f} us")
    return [
        {
            "bench": BENCH,
            "metric": METRIC,
            "value": round(overhead, 1),
            "goal": f"< {GOAL_US:.0f}",
            "baseline": round(baseline["p50"], 2),
            "unit": "us",
        },
        {
            "bench": BENCH,
            "metric": "reused_answer_p50_us",
            "value": round(reused["p50"], 1),
            "goal": None,
            "baseline": round(path["p50"], 1),
            "unit": "us",
        },
    ]


CALLBACK_SECRET = "bench-callback-secret"
CLIENTS = 20


def signed_callback(i: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"action": "SIGN_FLOW_COMPLETE", "signFlowId": f"flow-{i}"}).encode()
    timestamp = str(int(time.time() * 1000))
    headers = {
        "X-Tsign-Open-TIMESTAMP": timestamp,
        "X-Tsign-Open-SIGNATURE": callback_signature(CALLBACK_SECRET, timestamp, {}, body),
        "Content-Type": "application/json",
    }
    return body, headers


async def callbacks(settings: Any, tenant_id: Any, count: int) -> list[dict[str, Any]]:
    events = [signed_callback(i) for i in range(count)]
    adapter = EsignV3({"app_id": "bench", "app_secret": CALLBACK_SECRET})
    started = time.perf_counter()
    for body, headers in events:
        adapter.verify_callback({k.lower(): v for k, v in headers.items()}, {}, body)
    verify_rate = count / (time.perf_counter() - started)
    await adapter.aclose()

    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http,
    ):
        ctx = TenantContext(tenant_id, "bench", Principal("user", "bench", "bench"))
        with tenant_scope(ctx):
            async with in_transaction():
                await configure(
                    app.state.services.keys,
                    EsignV3,
                    settings={"app_id": "bench", "app_secret": CALLBACK_SECRET},
                )
        queue = list(events)

        async def client() -> None:
            while queue:
                body, headers = queue.pop()
                answer = await http.post(
                    "/t/bench/api/callbacks/esign.v3", content=body, headers=headers
                )
                if answer.status_code != 200 or answer.json().get("duplicate"):
                    raise SystemExit(f"callback refused: {answer.status_code} {answer.text}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        http_rate = count / (time.perf_counter() - started)
    print(
        f"verified callbacks: {http_rate:.0f}/s through the app ({CLIENTS} clients), "
        f"{verify_rate:.0f}/s signature checks alone"
    )
    return [
        {
            "bench": BENCH,
            "metric": "verified_callbacks_per_s",
            "value": round(http_rate, 1),
            "goal": None,
            "baseline": round(verify_rate, 1),
            "unit": "1/s",
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 calls each, a few seconds")
    args = parser.parse_args()
    print_header(BENCH, args.quick)
    for result in asyncio.run(run(200 if args.quick else 2000)):
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
