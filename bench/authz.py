"""Authorization: enforcement latency, and the records list as a scoped user vs an administrator.

Part 1, enforcement (no services needed):

Builds synthetic permission matrices (6 roles with inheritance, a ``form:*`` wildcard,
data scopes and field rules; exactly 50 policy lines each), loads every tenant's
enforcer on first use through ``EnforcerCache`` (timing each cold build), then times
``allowed()`` one call at a time over all tenants in random order:

- warm: ``cache.get_or_build(...).allowed(...)``, the path a request takes, answered by
  the decision cache after a warm-up pass;
- uncached: ``TenantEnforcer.evaluate(...)``, pycasbin's own enforce for the same
  requests, measured in the same run as the baseline.

The figure is the warm p50 in microseconds (goal < 20).

Part 2, the records list under load (PostgreSQL and Redis, as the tests use them): a
database of its own, migrated (row-level security on), one tenant on the gxdb bundle
with 10,000 records of 22 fields (sensitive ones sealed) written by COPY, the real app
served by uvicorn in a subprocess as the app role, and 20 concurrent clients
(httpx.AsyncClient, bearer tokens) reading ``GET …/forms/application/records`` (20 per
page, pages 1-25 at random) as an administrator (scope ``all``), a department-scoped
user and a condition-scoped user (``branch == user.department``), in interleaved rounds
of the same run. Figures: requests/s and p50/p99 for each; ``nonadmin_vs_admin_list_ratio``
is the department-scoped user's requests/s over the administrator's (goal >= 0.8), and
``condition_scope_vs_admin_list_ratio`` the condition-scoped user's.

    .venv/bin/python bench/authz.py            # 1,000 tenants; 10,000 records
    .venv/bin/python bench/authz.py --quick    # 100 tenants; 1,000 records; ~30 s
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from tortoise.transactions import in_transaction

from benchlib import bench_settings, drop_database, percentile, print_header, recreate_database
from danbao.auth.sessions import issue_api_token
from danbao.authz.cache import EnforcerCache
from danbao.authz.compiler import compile_permissions
from danbao.authz.enforcer import TenantEnforcer
from danbao.config import REPO_ROOT, Settings
from danbao.crypto.master_key import load_master_key
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.definitions import load_bundle
from danbao.ids import new_id
from danbao.provisioning import create_tenant, create_user, operator_context
from danbao.records.definition import FormDefinition
from danbao.records.sensitive import seal
from danbao.tenancy.context import tenant_scope

BENCH = "authz"
METRIC = "enforce_p50_us"
GOAL_US = 20.0
POLICIES = 50
VERSION = 1
ACTIONS = ("read", "create", "update", "delete", "submit", "approve", "export")
FORMS = [f"form:f{i}" for i in range(8)]
RESOURCES = [*FORMS, "workflow:review", "workflow:loan", "report:portfolio", "report:risk"]
ADMIN = ["admin:users", "admin:definitions", "admin:audit"]
ROLES = ("admin", "officer", "senior", "risk", "finance", "auditor")

T = TypeVar("T")
Row = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    tenants: int
    requests_per_tenant: int
    warm_samples: int
    uncached_samples: int
    quick: bool


@dataclass(frozen=True)
class Request:
    tenant: str
    roles: tuple[str, ...]
    resource: str
    action: str


def synthetic_permissions(seed: int) -> dict[str, Any]:
    """A plausible guarantor's matrix with exactly POLICIES policy lines."""
    rng = random.Random(seed)
    grants: dict[str, dict[str, list[str]]] = {
        "admin": {resource: ["read", "update"] for resource in ADMIN},
        "auditor": {"form:*": ["read"], "report:*": ["read", "export"]},
    }
    count = sum(len(a) for g in grants.values() for a in g.values())
    while count < POLICIES:
        role = rng.choice(ROLES[1:5])
        actions = grants.setdefault(role, {}).setdefault(rng.choice(RESOURCES), [])
        action = rng.choice(ACTIONS)
        if action not in actions:
            actions.append(action)
            count += 1
    return {
        "roles": [
            {"id": role, "name": {"zh-CN": role, "en": role}}
            | ({"inherits": ["officer"]} if role == "senior" else {})
            for role in ROLES
        ],
        "departments": [{"id": "hq", "name": {"zh-CN": "本部"}}]
        + [{"id": f"d{i}", "name": {"zh-CN": f"部门{i}"}, "parent": "hq"} for i in range(6)],
        "grants": grants,
        "data_scopes": {
            "officer": {"form:*": "own"},
            "senior": {"form:*": "department"},
            "risk": {"form:*": "all"},
            "auditor": {"form:*": "all"},
        },
        "field_rules": {
            "finance": {"f0": {"id_number": "masked", "mobile": "masked"}},
            "officer": {"f0": {"fee_rate": "readonly"}},
        },
    }


def tenant_id(i: int) -> str:
    return f"00000000-0000-7000-8000-{i:012d}"


def requests_for(tenant: str, seed: int, count: int) -> list[Request]:
    """A mix a real tenant sees: one or two roles, granted and not granted."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        held = tuple(rng.sample(ROLES, rng.choice((1, 1, 2))))
        resource = rng.choice([*RESOURCES, *ADMIN, "form:unknown"])
        out.append(Request(tenant, held, resource, rng.choice(ACTIONS)))
    return out


def time_each(call: Callable[[T], object], items: Sequence[T]) -> list[float]:
    """Seconds per ``call(item)``, one at a time (the timer's own cost is printed, not
    removed)."""
    clock, out = time.perf_counter_ns, []
    for item in items:
        started = clock()
        call(item)
        out.append((clock() - started) / 1e9)
    return out


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(10_000):
        started = clock()
        samples.append(clock() - started)
    return statistics.median(samples)


def enforcer_bytes(permissions: dict[str, Any]) -> int:
    """What one cached enforcer holds, traced apart from every timing."""
    gc.collect()
    tracemalloc.start()
    kept = TenantEnforcer(compile_permissions("sizing", permissions))
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return size


def run(plan: Plan) -> list[Row]:
    wall = time.perf_counter()
    tenants = [tenant_id(i) for i in range(plan.tenants)]
    matrices = {t: synthetic_permissions(i) for i, t in enumerate(tenants)}
    lines = {
        t: sum(len(a) for g in m["grants"].values() for a in g.values())
        for t, m in matrices.items()
    }
    if set(lines.values()) != {POLICIES}:
        raise SystemExit(f"synthetic matrices must have {POLICIES} lines each")
    cache = EnforcerCache(maxsize=plan.tenants)  # every tenant fits: this run times hits

    # Cold: each tenant's first request compiles and builds its enforcer.
    order = list(tenants)
    random.Random(1).shuffle(order)
    cold = time_each(lambda t: cache.get_or_build(t, VERSION, matrices[t]), order)
    requests = [
        r
        for i, t in enumerate(tenants)
        for r in requests_for(t, 10_000 + i, plan.requests_per_tenant)
    ]

    def through_cache(r: Request) -> bool:
        enforcer = cache.get_or_build(r.tenant, VERSION, matrices[r.tenant])
        return enforcer.allowed(r.roles, r.resource, r.action)

    enforcers = {t: cache.get_or_build(t, VERSION, matrices[t]) for t in tenants}

    def allowed_alone(r: Request) -> bool:
        return enforcers[r.tenant].allowed(r.roles, r.resource, r.action)

    def uncached_call(r: Request) -> bool:
        return enforcers[r.tenant].evaluate(r.roles, r.resource, r.action)

    # Warm-up: every distinct request once, so the decision caches hold them all.
    granted = sum(through_cache(r) for r in requests)
    rng = random.Random(2)
    warm_picks = [rng.choice(requests) for _ in range(plan.warm_samples)]
    uncached_picks = [rng.choice(requests) for _ in range(plan.uncached_samples)]
    # Interleave the three measurements in rounds, so a slow spell of a shared machine
    # lands on all of them rather than on one.
    warm: list[float] = []
    bare: list[float] = []
    uncached: list[float] = []
    rounds = 5
    for k in range(rounds):
        warm += time_each(through_cache, warm_picks[k::rounds])
        bare += time_each(allowed_alone, warm_picks[k::rounds])
        uncached += time_each(uncached_call, uncached_picks[k::rounds])
    size = enforcer_bytes(matrices[tenants[0]])

    def us(seconds: float) -> float:
        return round(seconds * 1e6, 3)

    warm_p50, warm_p99 = us(statistics.median(warm)), us(percentile(warm, 99))
    bare_p50, bare_p99 = us(statistics.median(bare)), us(percentile(bare, 99))
    unc_p50, unc_p99 = us(statistics.median(uncached)), us(percentile(uncached, 99))
    cold_p50, cold_p99 = statistics.median(cold) * 1e3, percentile(cold, 99) * 1e3
    print(
        f"cold: {plan.tenants} enforcers built lazily ({POLICIES} policies each) in "
        f"{sum(cold):.2f} s; per tenant p50 {cold_p50:.2f} ms, p99 {cold_p99:.2f} ms"
    )
    print(
        f"requests: {len(requests)} distinct ({granted} granted), warm-up pass done; "
        f"timer overhead {timer_overhead_ns():.0f} ns per sample (included below)"
    )
    print(f"warm, through EnforcerCache: {len(warm)} calls, p50 {warm_p50} us, p99 {warm_p99} us")
    print(f"warm, allowed() alone:       {len(bare)} calls, p50 {bare_p50} us, p99 {bare_p99} us")
    print(f"uncached pycasbin enforce:   {len(uncached)} calls, p50 {unc_p50} us, p99 {unc_p99} us")
    verdict = "meets" if warm_p50 < GOAL_US else "MISSES"
    print(
        f"{METRIC} = {warm_p50} ({verdict} the goal < {GOAL_US:g}); "
        f"{unc_p50 / warm_p50:,.0f}x faster than uncached pycasbin"
    )
    print(
        f"memory: one enforcer holds {size / 1024:,.0f} KiB (tracemalloc), so "
        f"{plan.tenants} cached cost ~{size * plan.tenants / 2**20:,.0f} MiB"
    )
    print(f"total {time.perf_counter() - wall:.1f} s")

    counts = {
        "quick": plan.quick,
        "tenants": plan.tenants,
        "policies_per_tenant": POLICIES,
        "samples": len(warm),
        "uncached_samples": len(uncached),
    }

    def figure(
        metric: str, value: float, goal: str | None, baseline: Any, unit: str
    ) -> dict[str, Any]:
        return {"bench": BENCH, "metric": metric, "value": value, "goal": goal,
                "baseline": baseline, "unit": unit, **counts}  # fmt: skip

    return [
        figure(METRIC, warm_p50, f"< {GOAL_US:g}", unc_p50, "us"),
        figure("enforce_p99_us", warm_p99, None, unc_p99, "us"),
        figure("enforce_speedup_vs_pycasbin", round(unc_p50 / warm_p50, 1), None, unc_p50, "x"),
        figure("allowed_p50_us", bare_p50, None, unc_p50, "us"),
        figure("uncached_enforce_p50_us", unc_p50, None, None, "us"),
        figure("uncached_enforce_p99_us", unc_p99, None, None, "us"),
        figure("cold_build_p50_ms", round(cold_p50, 3), None, None, "ms"),
        figure("enforcer_bytes", size, None, None, "B"),
    ]  # fmt: skip


# --- part 2: the records list under load ---------------------------------------------

LIST_METRIC = "nonadmin_vs_admin_list_ratio"  # the department-scoped user
CONDITION_METRIC = "condition_scope_vs_admin_list_ratio"
LIST_GOAL = 0.8
LIST_DB = "danbao_bench_authz"
REDIS_DB = 9
LIST_SLUG = "bench-list"
PASSWORD = "Bench-password-2026"
PER_PAGE = 20
PAGES = 25  # pages 1..25 at random (fewer if a scope is smaller), the same for every user
BRANCHES = ("hq", "chengdu", "mianyang")
DEPARTMENTS = ("chengdu_biz", "chengdu", "mianyang", "business", "hq")
# user kind -> (roles, department): gxdb's own roles, plus a department-scoped team lead.
LIST_USERS: dict[str, tuple[list[str], str]] = {
    "administrator": (["admin", "risk_officer"], "risk"),  # risk_officer: scope all
    "department": (["team_lead"], "chengdu_biz"),  # records created in chengdu_biz
    "condition": (["branch_manager"], "chengdu"),  # branch == user.department
}


@dataclass(frozen=True)
class ListPlan:
    records: int
    per_block: int  # requests per user per round
    rounds: int
    clients: int = 20


def list_bundle(target: Path) -> Path:
    """gxdb's bundle plus a team lead who reads the applications of their department."""
    shutil.copytree(REPO_ROOT / "tenants" / "gxdb", target)
    path = target / "permissions.json"
    perms = json.loads(path.read_text(encoding="utf-8"))
    perms["roles"].append({"id": "team_lead", "name": {"zh-CN": "团队负责人", "en": "Team lead"}})
    perms["grants"]["team_lead"] = {"form:application": ["read"]}
    perms["data_scopes"]["team_lead"] = {"form:application": "department"}
    path.write_text(json.dumps(perms, ensure_ascii=False), encoding="utf-8")
    return target


def _plain_record(rng: random.Random, i: int) -> dict[str, Any]:
    """An application with 22 fields, as the generated form would save it."""
    return {
        "branch": rng.choice(BRANCHES),
        "business_type": rng.choice(["working_capital", "fixed_asset", "bond"]),
        "applicant_name": f"四川测试{i:05d}科技有限公司",
        "uscc": "91510100MA6CGUXX3Q",
        "enterprise_size": rng.choice(["micro", "small", "medium"]),
        "industry": rng.choice(["A", "C", "F", "I"]),  # GB/T 4754 sections
        "registered_capital_yuan": rng.randrange(1, 500) * 100_000,
        "established_on": f"{2000 + rng.randrange(24)}-0{rng.randrange(1, 10)}-15",
        "business_address": {"region": "510107", "detail": f"天府大道{rng.randrange(1, 999)}号"},
        "annual_revenue_yuan": rng.randrange(1, 900) * 1_000_000,
        "employees": rng.randrange(5, 800),
        "legal_rep_name": rng.choice(["张伟", "王芳", "李娜", "刘强", "陈敏"]),
        "legal_rep_id_number": "11010519491231002X",
        "contact_mobile": f"138{rng.randrange(10**7, 10**8)}",
        "amount": rng.randrange(1, 200) * 100_000,
        "term_months": rng.choice([6, 12, 24, 36]),
        "lending_bank": rng.choice(["icbc", "ccb", "abc", "boc"]),
        "bank_risk_share_pct": 20,
        "fee_rate_pct": round(rng.uniform(0.5, 2.5), 2),
        "purpose": "补充流动资金，用于采购原材料",
        "shareholders": [
            {"name": "张伟", "holder_type": "natural", "id_number": "110105194912310021",
             "share_pct": 60},
            {"name": "成都投资有限公司", "holder_type": "enterprise",
             "id_number": "91510100MA6CGUXX3Q", "share_pct": 40},
        ],
        "related_party": False,
    }  # fmt: skip


async def seed_list_tenant(plan: ListPlan, settings: Settings, bundle: Path) -> dict[str, str]:
    """Migrate, provision the tenant and its users, COPY the records; returns user kind ->
    bearer token. Tortoise is connected as the owner (a superuser: COPY bypasses RLS)."""
    await run_migrations(settings)
    await open_db(settings, "owner")
    try:
        tenant, _ = await create_tenant(
            LIST_SLUG,
            bundle,
            admin_email=f"admin@{LIST_SLUG}.bench",
            admin_password=PASSWORD,
            operator="bench",
        )
        context = operator_context(tenant, "bench")
        tokens: dict[str, str] = {}
        creators: dict[str, Any] = {}
        keys = TenantKeys(load_master_key(settings))
        form = FormDefinition.from_bundle(load_bundle(bundle), "application")
        rng = random.Random(7)
        with tenant_scope(context):
            async with in_transaction():
                for kind, (roles, department) in LIST_USERS.items():
                    user = await create_user(
                        f"{kind}@{LIST_SLUG}.bench", kind, PASSWORD, roles, department
                    )
                    _, tokens[kind] = await issue_api_token(user, "bench", days=None)
                for department in DEPARTMENTS:
                    creator = await create_user(
                        f"am-{department}@{LIST_SLUG}.bench",
                        "客户经理",
                        PASSWORD,
                        ["account_manager"],
                        department,
                    )
                    creators[department] = creator.id
                # Sealed once per distinct applicant shape: an envelope binds tenant, form
                # and field, not the record, so the same one may be reused.
                sealed = [await seal(keys, form, _plain_record(rng, i)) for i in range(32)]
        rows = []
        now = datetime.now(UTC)
        for i in range(plan.records):
            stored, index = sealed[i % len(sealed)]
            # Index keys name fields or row cells ("shareholders.id_number"): copy the
            # sealed top-level value that holds each.
            sealed_fields = {key.split(".", 1)[0] for key in index}
            data = {**_plain_record(rng, i), **{k: stored[k] for k in sealed_fields}}
            department = DEPARTMENTS[i % len(DEPARTMENTS)]
            created = now - timedelta(minutes=plan.records - i)
            submitted = i % 3 != 0
            rows.append(
                (
                    new_id(), tenant.id, "application", 1,
                    f"GX-2026-{i + 1:05d}" if submitted else None,
                    "submitted" if submitted else "draft",
                    json.dumps(data, ensure_ascii=False), json.dumps(index), 1,
                    creators[department], department, created, created,
                    created if submitted else None,
                )
            )  # fmt: skip
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.copy_records_to_table(
                "form_record",
                records=rows,
                columns=[
                    "id", "tenant_id", "form_id", "form_version", "number", "status", "data",
                    "search_index", "revision", "created_by", "department", "created_at",
                    "updated_at", "submitted_at",
                ],
            )  # fmt: skip
            # What autovacuum would have done by now: statistics and the visibility map.
            await conn.execute("VACUUM ANALYZE form_record")
        finally:
            await conn.close()
        return tokens
    finally:
        await close_db()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    """``danbao serve`` in a process of its own, as the app role (row-level security on)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANBAO_")}
    env |= {
        "DANBAO_DATABASE_URL": settings.database_url or "",
        "DANBAO_APP_DATABASE_URL": settings.app_database_url or "",
        "DANBAO_REDIS_URL": settings.redis_url or "",
        "DANBAO_MASTER_KEY": settings.master_key or "",
        "DANBAO_VAR_DIR": str(settings.var_dir),
        "DANBAO_LOG_LEVEL": "WARNING",
    }
    danbao = str(Path(sys.executable).with_name("danbao"))
    proc = subprocess.Popen([danbao, "serve", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("danbao serve exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("danbao serve did not come up")


@dataclass
class Load:
    latencies: list[float] = dataclasses.field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    total: int = 0  # records the user sees

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def drive(base: str, token: str, pages: list[int], clients: int, load: Load) -> None:
    """``pages`` requested by ``clients`` concurrent clients; each answer is checked."""
    url = f"/t/{LIST_SLUG}/api/forms/application/records"
    queue = iter(pages)

    async def client() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            for page in queue:
                started = time.perf_counter()
                response = await http.get(url, params={"page": page, "per_page": PER_PAGE})
                elapsed = time.perf_counter() - started
                body = response.json() if response.status_code == 200 else None
                if body is None or len(body["items"]) != PER_PAGE:
                    raise SystemExit(f"page {page}: {response.status_code} {response.text[:200]}")
                load.latencies.append(elapsed)
                load.total = body["total"]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    load.seconds += time.perf_counter() - started
    load.requests += len(pages)


async def list_run(plan: ListPlan, keep_db: bool = False) -> list[Row]:
    wall = time.perf_counter()
    await recreate_database(LIST_DB)
    with tempfile.TemporaryDirectory(prefix="danbao-bench-authz-") as tmp:
        settings = bench_settings(Path(tmp), LIST_DB, REDIS_DB)
        try:
            started = time.perf_counter()
            tokens = await seed_list_tenant(plan, settings, list_bundle(Path(tmp) / "bundle"))
            seeded = time.perf_counter() - started
            print(f"list: database, tenant, users and {plan.records} records in {seeded:.1f} s")
            proc, base = start_server(settings)
            print(f"list: server up after {time.perf_counter() - started - seeded:.1f} s")
            try:
                loads = await _measure(plan, base, tokens)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        finally:
            if not keep_db:
                await drop_database(LIST_DB)
    print(
        f"list: {plan.clients} concurrent clients, {plan.rounds} rounds x {plan.per_block} "
        "requests per user"
    )
    figures = {}
    for kind, load in loads.items():
        p50 = statistics.median(load.latencies) * 1e3
        p99 = percentile(load.latencies, 99) * 1e3
        figures[kind] = (load.rps, p50, p99)
        print(
            f"list as {kind:13s} ({load.total:5d} records in scope): {load.rps:7.1f} req/s, "
            f"p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"
        )
    admin = figures["administrator"][0]
    ratio, condition = figures["department"][0] / admin, figures["condition"][0] / admin
    verdict = "meets" if ratio >= LIST_GOAL else "MISSES"
    print(f"{LIST_METRIC} = {ratio:.3f} (department scope; {verdict} the goal >= {LIST_GOAL})")
    print(
        f"{CONDITION_METRIC} = {condition:.3f} (a condition on record data: every count "
        "tests each record of the form, see docs/benchmarks.md)"
    )
    print(f"list part: {time.perf_counter() - wall:.1f} s")
    counts = {"quick": plan.records < 10_000, "records": plan.records, "clients": plan.clients,
              "requests_per_user": plan.rounds * plan.per_block}  # fmt: skip

    def figure(metric: str, value: float, goal: str | None, baseline: Any, unit: str) -> Row:
        return {"bench": BENCH, "metric": metric, "value": round(value, 3), "goal": goal,
                "baseline": baseline, "unit": unit, **counts}  # fmt: skip

    out = [
        figure(LIST_METRIC, ratio, f">= {LIST_GOAL}", round(admin, 1), "x"),
        figure(CONDITION_METRIC, condition, None, round(admin, 1), "x"),
    ]
    for kind, (rps, p50, p99) in figures.items():
        out += [
            figure(f"list_{kind}_rps", rps, None, None, "req/s"),
            figure(f"list_{kind}_p50_ms", p50, None, None, "ms"),
            figure(f"list_{kind}_p99_ms", p99, None, None, "ms"),
        ]
    return out


async def _measure(plan: ListPlan, base: str, tokens: dict[str, str]) -> dict[str, Load]:
    rng = random.Random(3)
    kinds = list(LIST_USERS)
    # The department user's scope is the smallest: a fifth of the records.
    pages = min(PAGES, plan.records // len(DEPARTMENTS) // PER_PAGE)
    # Warm-up: every user's pages once, so no one pays a cold cache or a cold plan.
    for kind in kinds:
        await drive(base, tokens[kind], list(range(1, pages + 1)), plan.clients, Load())
    loads = {kind: Load() for kind in kinds}
    # Interleaved rounds in rotating order: a slow spell of a shared machine lands on all.
    for r in range(plan.rounds):
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            block = [rng.randrange(1, pages + 1) for _ in range(plan.per_block)]
            await drive(base, tokens[kind], block, plan.clients, loads[kind])
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 tenants, 1,000 records")
    parser.add_argument("--tenants", type=int, help="number of tenants (enforcement)")
    parser.add_argument("--records", type=int, help="records of the list tenant")
    parser.add_argument("--skip-list", action="store_true", help="enforcement only, no services")
    parser.add_argument("--keep-db", action="store_true", help=f"keep {LIST_DB} to inspect")
    args = parser.parse_args()
    if args.quick:
        plan = Plan(args.tenants or 100, 20, warm_samples=50_000, uncached_samples=1_000,
                    quick=True)  # fmt: skip
        list_plan = ListPlan(args.records or 1_000, per_block=60, rounds=1)
    else:
        plan = Plan(args.tenants or 1_000, 20, warm_samples=500_000, uncached_samples=5_000,
                    quick=False)  # fmt: skip
        list_plan = ListPlan(args.records or 10_000, per_block=600, rounds=5)
    print_header(BENCH, plan.quick)
    print(
        f"plan: {plan.tenants} tenants x {POLICIES} policies, {plan.requests_per_tenant} "
        f"distinct requests per tenant, {plan.warm_samples} warm and "
        f"{plan.uncached_samples} uncached samples"
    )
    results = run(plan)
    if not args.skip_list:
        results += asyncio.run(list_run(list_plan, args.keep_db))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
