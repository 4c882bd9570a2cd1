"""Tenant scaling: one tenant-scoped API request at 10 versus 10,000 tenants.

Provisions N tenants from ``tenants/_template`` in a database of its own (the first few
through ``create_tenant``, the rest written in bulk with the same rows), then serves the
app in-process as the app role (row-level security on) and times ``GET /t/{slug}/api/me``
with a bearer token: phase A cycles over 10 tenants, phase B over all N, in interleaved
rounds. The figure is the ratio of the medians (goal <= 1.1); it also reports the process's
memory growth per touched tenant and the per-miss cost of the bounded caches.

    .venv/bin/python bench/tenants.py            # 10,000 tenants (8-13 min on 2 cores)
    .venv/bin/python bench/tenants.py --quick    # 200 tenants, under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from tortoise.transactions import in_transaction

from benchlib import (
    bench_settings,
    drop_database,
    percentile,
    print_header,
    recreate_database,
)
from danbao.audit.chain import GENESIS_HASH, _hash, _payload, verify_chain
from danbao.auth.login import normalise_email
from danbao.auth.passwords import hash_password
from danbao.auth.secrets import new_token, token_hash
from danbao.auth.sessions import API_TOKEN_PREFIX
from danbao.config import REPO_ROOT, Settings
from danbao.db.models import AuditEvent, Tenant
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.definitions import Bundle, load_bundle
from danbao.definitions.versions import get_version
from danbao.ids import new_id
from danbao.provisioning import ADMIN_ROLE, _display_name, create_tenant
from danbao.redaction import redact
from danbao.tenancy.context import Principal, TenantContext, TenantId, tenant_scope
from danbao.web.app import create_app

BENCH = "tenants"
METRIC = "latency_ratio_10000_vs_10_tenants"
GOAL = 1.1
DB_NAME = "danbao_bench"
REDIS_DB = 4
TEMPLATE = REPO_ROOT / "tenants" / "_template"
PASSWORD = "Bench-password-2026"
OPERATOR = "bench"
ADMIN_NAME = "管理员"  # what create_tenant names the first administrator
FEW = 10  # phase A: the small tenant count


@dataclass(frozen=True)
class Plan:
    tenants: int
    real: int  # provisioned through create_tenant (argon2 + validation each)
    rounds: int
    per_block_a: int
    per_block_b: int
    quick: bool


@dataclass
class Provisioned:
    slug: str
    tenant_id: Any
    user_id: Any = None


@dataclass(frozen=True)
class Target:
    slug: str
    url: str
    headers: dict[str, str]


def _malloc_trim() -> None:
    # glibc keeps freed heap (e.g. the bulk provisioning's rows) and reuses it silently,
    # which would hide the caches' growth; hand it back so RSS shows what is live.
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS as it is
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_bytes() -> int:
    """Resident set size after a collection (Linux); peak RSS elsewhere."""
    gc.collect()
    _malloc_trim()
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# --- provisioning ---------------------------------------------------------------------


def slug_of(i: int) -> str:
    return f"bench-{i:05d}"


def email_of(slug: str) -> str:
    return normalise_email(f"admin@{slug}.bench")


async def provision_real(count: int) -> list[Provisioned]:
    """The real path, one tenant at a time (Tortoise connected as the owner)."""
    made = []
    for i in range(count):
        slug = slug_of(i)
        tenant, _ = await create_tenant(
            slug, TEMPLATE, admin_email=email_of(slug), admin_password=PASSWORD, operator=OPERATOR
        )
        made.append(Provisioned(slug, tenant.id))
    return made


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    # What record_event stores and hashes: redacted, then a JSON round trip.
    clean: dict[str, Any] = json.loads(json.dumps(redact(data), default=str))
    return clean


def _chain(
    tenant_id: Any, entries: Sequence[tuple[str, str, str, dict[str, Any]]]
) -> list[AuditEvent]:
    """The audit events create_tenant records, hashed by danbao.audit.chain's own helpers."""
    events, prev = [], GENESIS_HASH
    for seq, (action, object_type, object_id, data) in enumerate(entries, start=1):
        event = AuditEvent(
            tenant_id=tenant_id,
            seq=seq,
            at=datetime.now(UTC),
            actor_kind="operator",
            actor_id=OPERATOR,
            action=action,
            object_type=object_type,
            object_id=object_id,
            data=_clean(data),
            request_id=None,  # provisioning runs outside any request
            prev_hash=prev,
        )
        event.hash = prev = _hash(prev, _payload(event))
        events.append(event)
    return events


Row = dict[str, Any]


async def copy_rows(conn: asyncpg.Connection, table: str, rows: list[Row]) -> None:
    """COPY rows given as column -> value (every row with the same columns)."""
    columns = list(rows[0])
    records = [tuple(row[c] for c in columns) for row in rows]
    await conn.copy_records_to_table(table, records=records, columns=columns)


async def provision_bulk(conn: asyncpg.Connection, start: int, stop: int) -> list[Provisioned]:
    """The rows create_tenant writes, for tenants start..stop-1, by COPY as the owner.

    The owner here is a superuser, which bypasses row-level security; COPY FROM refuses
    tables whose policies apply to the connecting role.
    """
    bundle = load_bundle(TEMPLATE)
    bundle_json = json.dumps(bundle.to_dict(), ensure_ascii=False)  # jsonb takes text
    name = _display_name(bundle)
    password_hash = hash_password(PASSWORD)  # once: argon2 is the cost create_tenant pays
    roles = [ADMIN_ROLE]
    tables: dict[str, list[Row]] = {
        "tenant": [],
        "app_user": [],
        "audit_head": [],
        "audit_event": [],
        "definition_version": [],
    }  # in foreign-key order
    made = []
    for i in range(start, stop):
        slug, tenant_id, user_id, now = slug_of(i), new_id(), new_id(), datetime.now(UTC)
        email = email_of(slug)
        published = {"content_hash": bundle.content_hash, "note": "initial definitions"}
        chain = _chain(
            tenant_id,
            [
                ("tenant.created", "tenant", str(tenant_id), {"slug": slug}),
                ("definitions.published", "definition_version", "1", published),
                ("user.created", "user", str(user_id), {"email": email, "roles": roles}),
            ],
        )
        tables["tenant"].append(
            {
                "id": tenant_id,
                "slug": slug,
                "name": name,
                "status": "active",
                "plan": "standard",
                "host": None,
                "created_at": now,
                "suspended_at": None,
                "suspended_reason": None,
            }
        )
        tables["app_user"].append(
            {
                "id": user_id,
                "tenant_id": tenant_id,
                "email": email,
                "name": ADMIN_NAME,
                "password_hash": password_hash,
                "roles": json.dumps(roles),
                "department": None,
                "is_active": True,
                "failed_logins": 0,
                "locked_until": None,
                "last_login_at": None,
                "created_at": now,
            }
        )
        tables["audit_head"].append(
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "last_seq": chain[-1].seq,
                "last_hash": chain[-1].hash,
            }
        )
        tables["audit_event"] += [
            {
                "id": e.id,
                "tenant_id": e.tenant_id,
                "seq": e.seq,
                "at": e.at,
                "actor_kind": e.actor_kind,
                "actor_id": e.actor_id,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "data": json.dumps(e.data, ensure_ascii=False),
                "request_id": e.request_id,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in chain
        ]
        tables["definition_version"].append(
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "number": 1,
                "content_hash": bundle.content_hash,
                "bundle": bundle_json,
                "published_at": now,
                "published_by": f"operator:{OPERATOR}",
                "note": "initial definitions",
            }
        )
        made.append(Provisioned(slug, tenant_id, user_id))
    async with conn.transaction():
        for table, rows in tables.items():
            await copy_rows(conn, table, rows)
    return made


async def issue_tokens(conn: asyncpg.Connection, tenants: list[Provisioned]) -> dict[str, str]:
    """One API token per tenant, written like issue_api_token: only the hash is kept."""
    missing = [t.tenant_id for t in tenants if t.user_id is None]
    if missing:
        rows = await conn.fetch(
            "SELECT tenant_id, id FROM app_user WHERE tenant_id = ANY($1::uuid[])", missing
        )
        by_tenant = {r["tenant_id"]: r["id"] for r in rows}
        for t in tenants:
            if t.user_id is None:
                t.user_id = by_tenant[t.tenant_id]
    now, secrets, tokens = datetime.now(UTC), {}, []
    for t in tenants:
        secret = API_TOKEN_PREFIX + new_token()
        secrets[t.slug] = secret
        tokens.append(
            {
                "id": new_id(),
                "tenant_id": t.tenant_id,
                "user_id": t.user_id,
                "name": "bench",
                "prefix": secret[:12],
                "token_hash": token_hash(secret),
                "created_at": now,
                "last_used_at": None,
                "expires_at": None,
                "revoked_at": None,
            }
        )
    await copy_rows(conn, "api_token", tokens)
    return secrets


async def _tenant_shape(conn: asyncpg.Connection, tenant_id: Any) -> dict[str, Any]:
    """What must not differ between a create_tenant tenant and a bulk one."""
    tenant = await conn.fetchrow(
        "SELECT name, status, plan, host FROM tenant WHERE id = $1", tenant_id
    )
    events = await conn.fetch(
        "SELECT seq, actor_kind, actor_id, action, object_type, data, request_id"
        " FROM audit_event WHERE tenant_id = $1 ORDER BY seq",
        tenant_id,
    )
    version = await conn.fetchrow(
        "SELECT number, content_hash, bundle, published_by, note"
        " FROM definition_version WHERE tenant_id = $1",
        tenant_id,
    )
    user = await conn.fetchrow(
        "SELECT name, roles, department, is_active, failed_logins, left(password_hash, 10) AS alg"
        " FROM app_user WHERE tenant_id = $1",
        tenant_id,
    )
    head = await conn.fetchval("SELECT last_seq FROM audit_head WHERE tenant_id = $1", tenant_id)
    return {
        "tenant": dict(tenant),
        "events": [{**dict(e), "data": sorted(json.loads(e["data"]))} for e in events],
        "version": {**dict(version), "bundle": json.loads(version["bundle"])},
        "user": {**dict(user), "roles": json.loads(user["roles"])},
        "head": head,
    }


async def check_faithful(
    conn: asyncpg.Connection, real: Provisioned, bulk: list[Provisioned]
) -> int:
    """Bulk rows equal create_tenant's and their audit chains verify; returns chains checked."""
    expected = await _tenant_shape(conn, real.tenant_id)
    got = await _tenant_shape(conn, bulk[0].tenant_id)
    if got != expected:
        raise SystemExit(f"bulk tenant differs from create_tenant's:\n{got}\n!=\n{expected}")
    sample = [real, bulk[0], bulk[len(bulk) // 2], bulk[-1]]
    for t in sample:
        ctx = TenantContext(TenantId(t.tenant_id), t.slug, Principal.system(OPERATOR))
        with tenant_scope(ctx):
            report = await verify_chain()
        if not report.ok:
            raise SystemExit(f"{t.slug}: {report.describe()}")
    return len(sample)


# --- measuring ------------------------------------------------------------------------


async def get_me(client: httpx.AsyncClient, target: Target) -> float:
    started = time.perf_counter()
    response = await client.get(target.url, headers=target.headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["tenant"]["slug"] != target.slug:
        raise SystemExit(f"{target.url}: {response.status_code} {response.text[:300]}")
    return elapsed


async def run_block(
    client: httpx.AsyncClient,
    targets: Sequence[Target],
    cursor: int,
    count: int,
    samples: list[float] | None = None,
) -> int:
    """``count`` requests continuing the cycle at ``cursor``; returns the new cursor."""
    for k in range(count):
        elapsed = await get_me(client, targets[(cursor + k) % len(targets)])
        if samples is not None:
            samples.append(elapsed)
    return cursor + count


async def miss_costs(sample: Sequence[Provisioned]) -> dict[str, float]:
    """What one miss of each bounded cache costs, measured on the app's own connection."""
    lookup, fetch, parse = [], [], []
    for t in sample:
        started = time.perf_counter()
        await Tenant.filter(slug=t.slug).first()  # TenantRegistry.by_slug on a miss
        lookup.append(time.perf_counter() - started)
        ctx = TenantContext(TenantId(t.tenant_id), t.slug, Principal.system(OPERATOR))
        with tenant_scope(ctx):
            async with in_transaction():
                started = time.perf_counter()
                version = await get_version(1)  # ActiveBundles.current on a miss: the row...
                fetched = time.perf_counter()
                Bundle.from_published(version.bundle)  # ...then rebuilt (not re-validated)
                parsed = time.perf_counter()
        fetch.append(fetched - started)
        parse.append(parsed - fetched)
    # What one ActiveBundles entry holds, traced apart from the timings above.
    gc.collect()
    tracemalloc.start()
    kept = Bundle.from_published(version.bundle)
    gc.collect()
    bundle_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return {
        "registry_lookup": statistics.median(lookup),
        "bundle_fetch": statistics.median(fetch),
        "bundle_rebuild": statistics.median(parse),
        "bundle_bytes": bundle_bytes,
    }


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# --- the run --------------------------------------------------------------------------


async def run(plan: Plan, keep_db: bool) -> list[dict[str, Any]]:
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="danbao-bench-") as var_dir:
        settings = bench_settings(Path(var_dir), DB_NAME, REDIS_DB)
        await recreate_database(DB_NAME)
        try:
            return await _run(plan, settings, wall)
        finally:
            if not keep_db:
                await drop_database(DB_NAME)


@dataclass
class Provisioning:
    postgres: str
    tenants: list[Provisioned]
    secrets: dict[str, str]
    real_s: float
    bulk_s: float
    tokens_s: float
    chains: int


async def provision(plan: Plan, settings: Settings) -> Provisioning:
    """Migrate, then the real path for a few tenants and the same rows in bulk for the rest."""
    await run_migrations(settings)
    await open_db(settings, "owner")
    conn = await asyncpg.connect(settings.database_url)
    try:
        postgres = await conn.fetchval("SHOW server_version")
        started = time.perf_counter()
        real = await provision_real(plan.real)
        real_s = time.perf_counter() - started
        started = time.perf_counter()
        bulk = await provision_bulk(conn, plan.real, plan.tenants)
        bulk_s = time.perf_counter() - started
        chains = await check_faithful(conn, real[0], bulk)
        started = time.perf_counter()
        secrets = await issue_tokens(conn, real + bulk)
        tokens_s = time.perf_counter() - started
        await conn.execute("ANALYZE")  # fresh planner statistics, as a live database has
    finally:
        await conn.close()
        await close_db()
    # Plain UUIDs: asyncpg's own UUID type does not need to cross the process boundary.
    for t in real + bulk:
        t.tenant_id, t.user_id = uuid.UUID(str(t.tenant_id)), uuid.UUID(str(t.user_id))
    return Provisioning(postgres, real + bulk, secrets, real_s, bulk_s, tokens_s, chains)


def provision_in_child(plan: Plan, settings: Settings) -> Provisioning:
    return asyncio.run(provision(plan, settings))


async def _run(plan: Plan, settings: Settings, wall: float) -> list[dict[str, Any]]:
    # Provisioning runs in a child process: its garbage left in this heap would be reused
    # by the caches and hide their growth from the RSS figures.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(pool, provision_in_child, plan, settings)
    every, secrets, bulk_count = done.tenants, done.secrets, plan.tenants - plan.real
    real_rate, bulk_rate = plan.real / done.real_s, bulk_count / done.bulk_s
    print(f"postgres {done.postgres}")
    print(
        f"provisioning: create_tenant {plan.real} tenants in {done.real_s:.1f} s = "
        f"{real_rate:.2f}/s"
    )
    print(
        f"provisioning: bulk COPY {bulk_count} tenants in {done.bulk_s:.1f} s = {bulk_rate:,.0f}/s"
    )
    print(
        f"provisioning: {len(every)} API tokens in {done.tokens_s:.2f} s; "
        f"bulk rows match create_tenant's, {done.chains} audit chains verified"
    )

    def target(t: Provisioned) -> Target:
        return Target(t.slug, f"/t/{t.slug}/api/me", {"authorization": f"Bearer {secrets[t.slug]}"})

    few = [target(t) for t in every[:FEW]]
    many = [target(t) for t in every]
    random.Random(2026).shuffle(many)  # no accidental locality in slug order

    app = create_app(settings)
    services = app.state.services
    samples_a: list[float] = []
    samples_b: list[float] = []
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        # Warm-up, the same rule for both phases: one pass over the phase's tenants.
        cursor_a = await run_block(client, few, 0, len(few))
        rss_before = rss_bytes()
        cursor_b, steps, rss_steps = 0, 10, [rss_before]
        started = time.perf_counter()
        for step in range(steps):  # B's pass is also the memory measurement: first touches
            stop = len(many) * (step + 1) // steps
            cursor_b = await run_block(client, many, cursor_b, stop - cursor_b)
            rss_steps.append(rss_bytes())
        warm_b_s = time.perf_counter() - started
        rss_after = rss_steps[-1]
        print(f"warm-up: phase B's pass over {len(many)} tenants took {warm_b_s:.1f} s")

        for rnd in range(plan.rounds):
            order = ("A", "B") if rnd % 2 == 0 else ("B", "A")
            for phase in order:
                targets, samples = (few, samples_a) if phase == "A" else (many, samples_b)
                cursor = cursor_a if phase == "A" else cursor_b
                # Each block starts with FEW untimed requests in both phases, so A's first
                # requests after a B block (whose misses evicted A's entries) are not timed.
                cursor = await run_block(client, targets, cursor, FEW)
                per_block = plan.per_block_a if phase == "A" else plan.per_block_b
                cursor = await run_block(client, targets, cursor, per_block, samples)
                if phase == "A":
                    cursor_a = cursor
                else:
                    cursor_b = cursor
        rss_end = rss_bytes()
        registry, bundles = services.registry, services.bundles
        cache_lines = [
            f"TenantRegistry by slug {len(registry._by_slug)}/{registry._by_slug.maxsize} "
            f"(TTL {registry._by_slug.ttl:g} s)",
            f"ActiveBundles {len(bundles._cache)}/{bundles._cache.maxsize} (LRU)",
        ]
        costs = await miss_costs(random.Random(7).sample(every, min(20, len(every))))

    med_a, med_b = statistics.median(samples_a), statistics.median(samples_b)
    p99_a, p99_b = percentile(samples_a, 99), percentile(samples_b, 99)
    ratio = med_b / med_a
    touched = len(many)
    per_tenant = (rss_after - rss_before) / touched
    half = (rss_after - rss_steps[steps // 2]) / (touched - touched * (steps // 2) // steps)
    mb = 1024 * 1024
    print(
        f"phase A ({len(few)} tenants): {len(samples_a)} requests, "
        f"median {ms(med_a)} ms, p99 {ms(p99_a)} ms"
    )
    print(
        f"phase B ({len(many)} tenants): {len(samples_b)} requests, "
        f"median {ms(med_b)} ms, p99 {ms(p99_b)} ms"
    )
    verdict = "meets" if ratio <= GOAL else "MISSES"
    print(
        f"latency ratio B/A: median {ratio:.2f}x ({verdict} the goal <= {GOAL}), "
        f"p99 {p99_b / p99_a:.2f}x"
    )
    print(
        "memory: RSS " + " -> ".join(f"{r / mb:.1f}" for r in rss_steps) + " MB "
        f"over B's first pass (every {touched // steps} tenants)"
    )
    print(
        f"memory: {per_tenant:,.0f} B per touched tenant over the pass, "
        f"{half:,.0f} B per tenant in its second half; RSS after the rounds "
        f"{rss_end / mb:.1f} MB"
    )
    print("caches after the run: " + "; ".join(cache_lines))
    bundle_cap = bundles._cache.maxsize * costs["bundle_bytes"]
    print(
        f"memory: one cached bundle holds {costs['bundle_bytes'] / 1024:,.0f} KiB (tracemalloc), "
        f"so ActiveBundles is bounded near {bundle_cap / mb:.1f} MB"
    )
    print(
        f"cost of one miss: registry lookup {ms(costs['registry_lookup'])} ms; "
        f"bundle fetch {ms(costs['bundle_fetch'])} ms + Bundle.from_published "
        f"{ms(costs['bundle_rebuild'])} ms"
    )
    print(f"total {time.perf_counter() - wall:.0f} s")

    counts = {
        "quick": plan.quick,
        "tenants": plan.tenants,
        "tenants_a": len(few),
        "tenants_b": touched,
        "requests_a": len(samples_a),
        "requests_b": len(samples_b),
    }

    def figure(metric: str, value: float, goal: str | None, baseline: Any, unit: str) -> Row:
        return {"bench": BENCH, "metric": metric, "value": value, "goal": goal,
                "baseline": baseline, "unit": unit, **counts}  # fmt: skip

    return [
        figure(METRIC, round(ratio, 3), f"<= {GOAL}", ms(med_a), "x"),
        figure("latency_p99_ratio_10000_vs_10_tenants", round(p99_b / p99_a, 3), None,
               ms(p99_a), "x"),
        figure("rss_bytes_per_touched_tenant", round(per_tenant), None, rss_before, "B"),
        figure("rss_bytes_per_touched_tenant_second_half", round(half), None, rss_before, "B"),
        figure("bulk_provisioning_tenants_per_s", round(bulk_rate), None, round(real_rate, 3),
               "tenants/s"),
        figure("create_tenant_per_s", round(real_rate, 3), None, None, "tenants/s"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 tenants, under a minute")
    parser.add_argument("--tenants", type=int, help="tenants to provision (phase B touches all)")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} for inspection")
    args = parser.parse_args()
    if args.quick:
        plan = Plan(args.tenants or 200, 5, rounds=5, per_block_a=100, per_block_b=100, quick=True)
    else:
        plan = Plan(
            args.tenants or 10_000, 20, rounds=5, per_block_a=1000, per_block_b=400, quick=False
        )
    if plan.tenants <= max(plan.real, FEW):
        parser.error(f"--tenants must exceed {max(plan.real, FEW)}")
    print_header(BENCH, plan.quick)
    print(
        f"plan: {plan.tenants} tenants ({plan.real} via create_tenant), phase A {FEW} "
        f"tenants x {plan.per_block_a}/round, phase B all x {plan.per_block_b}/round, "
        f"{plan.rounds} interleaved rounds"
    )
    results = asyncio.run(run(plan, args.keep_db))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
