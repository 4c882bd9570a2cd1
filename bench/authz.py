"""Authorization: enforcement latency with 1,000 tenants x 50 policies, loaded lazily.

Builds synthetic permission matrices (6 roles with inheritance, a ``form:*`` wildcard,
data scopes and field rules; exactly 50 policy lines each), loads every tenant's
enforcer on first use through ``EnforcerCache`` (timing each cold build), then times
``allowed()`` one call at a time over all tenants in random order:

- warm: ``cache.get_or_build(...).allowed(...)``, the path a request takes, answered by
  the decision cache after a warm-up pass;
- uncached: ``TenantEnforcer.evaluate(...)``, pycasbin's own enforce for the same
  requests, measured in the same run as the baseline.

The figure is the warm p50 in microseconds (goal < 20). No services needed.

    .venv/bin/python bench/authz.py            # 1,000 tenants
    .venv/bin/python bench/authz.py --quick    # 100 tenants, a few seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from benchlib import percentile, print_header
from danbao.authz.cache import EnforcerCache
from danbao.authz.compiler import compile_permissions
from danbao.authz.enforcer import TenantEnforcer

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 tenants, a few seconds")
    parser.add_argument("--tenants", type=int, help="number of tenants")
    args = parser.parse_args()
    if args.quick:
        plan = Plan(args.tenants or 100, 20, warm_samples=50_000, uncached_samples=1_000,
                    quick=True)  # fmt: skip
    else:
        plan = Plan(args.tenants or 1_000, 20, warm_samples=500_000, uncached_samples=5_000,
                    quick=False)  # fmt: skip
    print_header(BENCH, plan.quick)
    print(
        f"plan: {plan.tenants} tenants x {POLICIES} policies, {plan.requests_per_tenant} "
        f"distinct requests per tenant, {plan.warm_samples} warm and "
        f"{plan.uncached_samples} uncached samples"
    )
    for result in run(plan):
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
