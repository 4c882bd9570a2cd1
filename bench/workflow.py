"""Approval chains: engine-only approvals per second and stored state beside SpiffWorkflow,
and approvals over HTTP on PostgreSQL with 32 concurrent approvers.

The chain (``bench/workflow_chain.json``, a definition valid under
``schemas/workflow.schema.json``): five sequential approval levels, then a countersign
(会签, every member must approve) of five; the submitter picks the ten approvers among
the 32 holders of the role ``approver`` (发起人自选), so that instances spread over all
of them. Ten approvals per instance.

1. **engine**: our chain's plan compiled once, instances run through the pure engine
   (``workflow.start`` and ``workflow.act``), and after every action the state saved the
   way ``workflow/store.py`` persists it (the JSON of ``State.to_json()``, the instance's
   ``state`` column, encoded by that column's own encoder). Baseline in the same run:
   SpiffWorkflow (the pin in pyproject.toml's ``bench`` extra, installed into
   ``var/bench-envs/spiff`` — its own environment, made once and reused) running the
   same chain in BPMN (``bench/spiff/chain.bpmn``: five user tasks, then a parallel
   multi-instance user task of five), parsed once, with the instance serialised by its
   ``BpmnWorkflowSerializer`` after every action — without the process definition, which
   is serialised once and referred to by name, as our plan is compiled once and never
   saved with an instance (Spiff's default would convert the definition on every save, a
   fifth of its time: counting it would flatter us). Its runner
   (``bench/spiff/runner.py``) runs in a child process with that environment's
   interpreter; rounds of the two alternate. The figure is the ratio of approvals per
   second, start and saves included (goal >= 10).
2. **state**: the stored size of one instance after every action, ours and Spiff's (as
   saved, and with the process definition Spiff's default save adds). History is not in
   our state (it is the action log and the audit trail), so it should not grow. Each side
   restores one instance from its save halfway and runs it to the end: the saves are
   complete.
3. **http**: a database of its own (``danbao_bench_workflow``: migrated, app role,
   row-level security), the starter template plus the chain and an ``approver`` role, a
   submitter and 32 approvers with API tokens; ``danbao serve`` in a child process; the
   submitter creates, submits and starts N applications (not timed), then 32 concurrent
   clients, one per approver, approve each task they are given (``POST
   …/approvals/{id}/actions`` with the task version and an Idempotency-Key), each
   answer handing the newly opened tasks to their holders. p50 and p99 per approval,
   approvals per second, and the server's CPU per approval. Then checks: every instance
   approved, a repeated key answers the same, the tenant's audit chain verifies.

    .venv/bin/python bench/workflow.py            # full run
    .venv/bin/python bench/workflow.py --quick    # a small run (CI), well under 2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
from jsonschema import Draft202012Validator
from tortoise.transactions import in_transaction

from benchlib import (
    bench_pins,
    bench_settings,
    cpu_and_wait,
    drop_database,
    peer_env,
    percentile,
    print_header,
    recreate_database,
    served,
    user_like,
    verified_audit_chain,
)
from danbao.auth.sessions import issue_api_token
from danbao.config import REPO_ROOT, Settings
from danbao.db.models import WorkflowInstance
from danbao.definitions import load_bundle
from danbao.provisioning import create_tenant, create_user, operator_context
from danbao.tenancy.context import tenant_scope
from danbao.workflow import Action, Env, People, Person, State, act, compile_plan, start

Row = dict[str, Any]

BENCH = "workflow"
METRIC = "approvals_per_s_ratio_vs_spiff"
GOAL = 10
DB_NAME = "danbao_bench_workflow"
REDIS_DB = 5  # tenants.py takes 4, plugins.py 7, forms.py 8, authz.py 9
SLUG = "bench-workflow"
PASSWORD = "Bench-password-2026"
OPERATOR = "bench"
HERE = Path(__file__).resolve().parent
CHAIN_FILE = HERE / "workflow_chain.json"
RUNNER = HERE / "spiff" / "runner.py"
APPROVERS = 32
CLIENTS = 32
LEVELS = ("l1", "l2", "l3", "l4", "l5")
COUNTERSIGN = "sign"
PER_INSTANCE = len(LEVELS) + 5
ROLE = "approver"
SUBMITTER_ROLE = "account_manager"
DEPARTMENT = "business"
# A valid application of the starter template's form (the approvals tests' sample).
RECORD = {
    "applicant_name": "福州测试科技有限公司",
    "uscc": "91350100M000100Y43",
    "enterprise_size": "small",
    "industry": "I",  # a code of the industries dictionary (GB/T 4754)
    "legal_rep_name": "张三",
    "legal_rep_id_number": "11010519491231002X",
    "contact_mobile": "13800138000",
    "amount": 3000000,
    "term_months": 12,
    "lending_bank": "中国银行福州分行",
    "purpose": "补充流动资金",
}


@dataclass(frozen=True)
class Plan:
    quick: bool
    rounds: int  # alternating engine rounds per side
    per_round: int  # instances per engine round
    http_warm: int  # instances approved over HTTP before timing
    http_instances: int  # instances approved over HTTP, timed


def approver_email(n: int) -> str:
    return f"approver{n}@workflow.bench"


def choices_for(n: int) -> dict[str, list[str]]:
    """The ten approvers the submitter picks for instance ``n``: ten different people, and
    for each node the instances 0..31 use all 32 approvers (7 is prime to 32)."""
    picked = [approver_email((n + 7 * k) % APPROVERS) for k in range(PER_INSTANCE)]
    out = {node: [picked[i]] for i, node in enumerate(LEVELS)}
    out[COUNTERSIGN] = picked[len(LEVELS) :]
    return out


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


# --- the engine alone -----------------------------------------------------------------------


def load_chain() -> dict[str, Any]:
    chain = json.loads(CHAIN_FILE.read_text(encoding="utf-8"))
    schema = json.loads((REPO_ROOT / "schemas" / "workflow.schema.json").read_text("utf-8"))
    errors = sorted(Draft202012Validator(schema).iter_errors(chain), key=str)
    if errors:
        raise SystemExit(f"{CHAIN_FILE.name} is invalid: {errors[0].message}")
    return chain


def engine_env(chain: dict[str, Any]) -> tuple[Env, str]:
    """The compiled plan and a snapshot of the people (ids are UUIDs, as stored)."""
    submitter = Person(str(uuid.uuid4()), "am@workflow.bench", "客户经理",
                       frozenset({SUBMITTER_ROLE}), DEPARTMENT)  # fmt: skip
    approvers = [
        Person(str(uuid.uuid4()), approver_email(n), f"审批人{n}", frozenset({ROLE}), DEPARTMENT)
        for n in range(APPROVERS)
    ]
    return Env(compile_plan(chain), People.build([submitter, *approvers]), RECORD), submitter.id


_STATE_JSON = WorkflowInstance._meta.fields_map["state"]
"""The instance row's ``state`` column: its encoder is what the store's save runs."""


def save(state: State) -> bytes:
    """What the store writes for an instance after an action: its state, encoded as the
    ``state`` column encodes it (its own encoder: compact JSON by msgspec, db/models.py,
    given the ``State`` itself as the store gives it: the JSON of ``State.to_json()``)."""
    return cast(str, _STATE_JSON.encoder(state)).encode()


def run_ours(
    env: Env,
    submitter: str,
    n: int,
    sizes: list[int] | None = None,
    restore_after: int | None = None,
) -> list[float]:
    """One instance to the end; seconds per approval (act + save). With ``sizes``, the
    saved size after every action (start included). With ``restore_after``, the state is
    read back from its save after that many approvals and the instance goes on from it
    (a check that the save is complete, not timed)."""
    clock = time.perf_counter
    result = start(env, submitter, choices_for(n))
    saved = save(result.state)
    if sizes is not None:
        sizes.append(len(saved))
    per_action: list[float] = []
    while result.state.status == "running":
        task = min((t for t in result.state.tasks.values() if t.status == "open"),
                   key=lambda t: t.id)  # fmt: skip
        started = clock()
        action = Action("approve", task.user, task.id, task.version)
        result = act(env, result.state, action, in_place=True)  # as the store does
        saved = save(result.state)
        per_action.append(clock() - started)
        if sizes is not None:
            sizes.append(len(saved))
        if restore_after == len(per_action):
            restored = State.from_json(_STATE_JSON.decoder(saved))
            if restored != result.state:
                raise SystemExit(f"instance {n}: the saved state does not restore")
            result = replace(result, state=restored)
    if result.state.status != "approved" or len(per_action) != PER_INSTANCE:
        raise SystemExit(f"instance {n}: {result.state.status} after {len(per_action)} approvals")
    return per_action


class Spiff:
    """The SpiffWorkflow runner in its own environment: one JSON request per line."""

    def __init__(self, python: Path) -> None:
        self.child = subprocess.Popen(
            [str(python), str(RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.version = str(self._answer()["version"])

    def _answer(self) -> Row:
        assert self.child.stdout is not None
        line = self.child.stdout.readline()
        if not line:
            raise SystemExit(f"the Spiff runner exited ({self.child.wait()})")
        return cast(Row, json.loads(line))

    def ask(self, request: Row) -> Row:
        assert self.child.stdin is not None
        self.child.stdin.write(json.dumps(request) + "\n")
        self.child.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.child.stdin is not None:
            self.child.stdin.close()
        try:
            self.child.wait(10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


@dataclass
class Side:
    rates: list[float] = field(default_factory=list)  # approvals per second, per round
    per_action: list[float] = field(default_factory=list)
    approvals: int = 0
    seconds: float = 0.0


@dataclass
class Engine:
    ours: Side
    spiff: Side
    ratios: list[float]  # ours / Spiff, round by round
    our_sizes: list[int]
    spiff_sizes: list[int]  # as saved: the instance, its definition by name
    spiff_whole_sizes: list[int]  # with the definition, as Spiff's default save writes
    spiff_version: str
    env_seconds: float | None


def measure_engine(plan: Plan, chain: dict[str, Any]) -> Engine:
    python, made = peer_env("spiff", bench_pins("SpiffWorkflow"))
    env, submitter = engine_env(chain)
    spiff = Spiff(python)
    try:
        ours, theirs = Side(), Side()

        def our_round(count: int, side: Side | None) -> None:
            per_action: list[float] = []
            started = time.perf_counter()
            for n in range(count):
                per_action += run_ours(env, submitter, n)
            seconds = time.perf_counter() - started
            if side is not None:
                side.rates.append(len(per_action) / seconds)
                side.per_action += per_action
                side.approvals += len(per_action)
                side.seconds += seconds

        def spiff_round(count: int, side: Side | None) -> None:
            answer = spiff.ask({"op": "run", "instances": count})
            if side is not None:
                side.rates.append(answer["approvals"] / answer["seconds"])
                side.per_action += answer["per_action"]
                side.approvals += answer["approvals"]
                side.seconds += answer["seconds"]

        rounds: dict[str, Callable[[int, Side | None], None]] = {"ours": our_round,
                                                                 "spiff": spiff_round}  # fmt: skip
        for run_round in rounds.values():  # warm-up: imports, caches, the allocator
            run_round(max(5, plan.per_round // 5), None)
        for r in range(plan.rounds):
            for name in ("ours", "spiff") if r % 2 == 0 else ("spiff", "ours"):
                rounds[name](plan.per_round, ours if name == "ours" else theirs)
        ratios = [a / b for a, b in zip(ours.rates, theirs.rates, strict=True)]
        our_sizes: list[int] = []
        run_ours(env, submitter, 0, our_sizes, restore_after=PER_INSTANCE // 2)
        profile = spiff.ask({"op": "profile"})
        return Engine(ours, theirs, ratios, our_sizes, profile["instance_only"],
                      profile["whole"], spiff.version, made)  # fmt: skip
    finally:
        spiff.close()


# --- over HTTP -------------------------------------------------------------------------------


def write_bundle(folder: Path, chain: dict[str, Any]) -> Path:
    """The starter template, the chain, and the role ``approver`` that may act on it."""
    shutil.copytree(REPO_ROOT / "tenants" / "_template", folder)
    (folder / "workflows" / f"{chain['id']}.json").write_text(
        json.dumps(chain, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    path = folder / "permissions.json"
    permissions = json.loads(path.read_text(encoding="utf-8"))
    permissions["roles"].append({"id": ROLE, "name": {"zh-CN": "审批人", "en": "Approver"}})
    permissions["grants"][ROLE] = {
        "form:application": ["read"],
        f"workflow:{chain['id']}": ["read", "approve"],
    }
    path.write_text(json.dumps(permissions, ensure_ascii=False, indent=1), encoding="utf-8")
    load_bundle(folder)  # the real loader and checks: a bad chain stops the run here
    return folder


@dataclass
class Provisioned:
    tenant_id: uuid.UUID
    submitter: str  # API token
    approvers: dict[str, str]  # user id -> API token
    postgres: str
    seconds: float


async def provision(settings: Settings, bundle_dir: Path) -> Provisioned:
    """Migrate; the tenant from the bundle; a submitter and 32 approvers with API tokens."""
    from danbao.db.setup import close_db, open_db, run_migrations

    started = time.perf_counter()
    await run_migrations(settings)
    await open_db(settings, "owner")
    try:
        tenant, _ = await create_tenant(
            SLUG, bundle_dir, admin_email="admin@workflow.bench", admin_password=PASSWORD,
            operator=OPERATOR,
        )  # fmt: skip
        approvers: dict[str, str] = {}
        with tenant_scope(operator_context(tenant, OPERATOR)):
            async with in_transaction():
                am = await create_user("am@workflow.bench", "客户经理", PASSWORD,
                                       [SUBMITTER_ROLE], DEPARTMENT)  # fmt: skip
                _, submitter = await issue_api_token(am, "bench", days=1)
                for n in range(APPROVERS):
                    user = await user_like(am, approver_email(n), f"审批人{n}", [ROLE], DEPARTMENT)
                    _, secret = await issue_api_token(user, "bench", days=1)
                    approvers[str(user.id)] = secret
    finally:
        await close_db()
    conn = await asyncpg.connect(settings.database_url)
    try:
        postgres = await conn.fetchval("SHOW server_version")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Provisioned(uuid.UUID(str(tenant.id)), submitter, approvers, postgres,
                       time.perf_counter() - started)  # fmt: skip


def _client(base: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base,
        headers={"authorization": f"Bearer {token}", "accept-language": "zh-CN"},
        timeout=120,
        limits=httpx.Limits(keepalive_expiry=2.0),  # below uvicorn's 5 s keep-alive
    )


@dataclass
class Task:
    instance: str
    key: str
    version: int


async def start_instances(
    base: str, token: str, chain_id: str, first: int, count: int
) -> list[Row]:
    """``count`` applications created, submitted and their approvals started (8 at a time:
    setup, not timed); the start answers, with the first open task of each."""
    records = f"/t/{SLUG}/api/forms/application/records"
    gate = asyncio.Semaphore(8)
    async with _client(base, token) as client:

        async def one(n: int) -> Row:
            async with gate:
                made = await client.post(records, json={"data": RECORD})
                if made.status_code != 201:
                    raise SystemExit(f"create: {made.status_code} {made.text[:300]}")
                rid = made.json()["id"]
                done = await client.post(f"{records}/{rid}/submit")
                if done.status_code != 200:
                    raise SystemExit(f"submit: {done.status_code} {done.text[:300]}")
                started = await client.post(
                    f"{records}/{rid}/approval",
                    json={"workflow": chain_id, "choices": choices_for(n)},
                    headers={"idempotency-key": f"start-{rid}"},
                )
                if started.status_code != 201:
                    raise SystemExit(f"start: {started.status_code} {started.text[:300]}")
                return cast(Row, started.json())

        return list(await asyncio.gather(*(one(first + n) for n in range(count))))


@dataclass
class Phase:
    approvals: int = 0
    seconds: float = 0.0
    latency: list[float] = field(default_factory=list)
    conflicts: int = 0
    server_cpu: float | None = None
    server_wait: float | None = None
    last: tuple[str, str, Row, Row] | None = None  # user, key, request, answer (for the check)
    setup_seconds: float = 0.0  # applications made, submitted, started; the warm-up


async def approve_all(
    base: str, done: Provisioned, started: list[Row], phase: Phase, server_pid: int
) -> None:
    """One client per approver; each approves the tasks handed to it, and every answer
    hands the tasks it opened to their holders, until every instance is approved."""
    queues: dict[str, asyncio.Queue[Task | None]] = {u: asyncio.Queue() for u in done.approvers}
    seen: set[tuple[str, str]] = set()
    expected = len(started) * PER_INSTANCE
    finished = asyncio.Event()

    def hand_out(instance: Row) -> None:
        for t in instance["tasks"]:
            if t["status"] == "open" and (instance["id"], t["task"]) not in seen:
                seen.add((instance["id"], t["task"]))
                queues[t["user"]].put_nowait(Task(instance["id"], t["task"], t["version"]))

    async def approver(user: str, client: httpx.AsyncClient) -> None:
        queue = queues[user]
        while (task := await queue.get()) is not None:
            body = {"op": "approve", "task": task.key, "version": task.version}
            key = f"{task.instance}:{task.key}:approve"
            t0 = time.perf_counter()
            answer = await client.post(f"/t/{SLUG}/api/approvals/{task.instance}/actions",
                                       json=body, headers={"idempotency-key": key})  # fmt: skip
            phase.latency.append(time.perf_counter() - t0)
            if answer.status_code == 409:
                phase.conflicts += 1
            if answer.status_code != 200:
                raise SystemExit(f"approve: {answer.status_code} {answer.text[:500]}")
            result = answer.json()
            phase.last = (user, key, body, result)
            hand_out(result["instance"])
            phase.approvals += 1
            if phase.approvals == expected:
                finished.set()

    clients = {u: _client(base, token) for u, token in done.approvers.items()}
    before = cpu_and_wait(server_pid)
    t0 = time.perf_counter()
    try:
        for answer in started:
            hand_out(answer["instance"])
        workers = [asyncio.create_task(approver(u, c)) for u, c in clients.items()]
        waiter = asyncio.create_task(finished.wait())
        await asyncio.wait([waiter, *workers], return_when=asyncio.FIRST_COMPLETED)
        phase.seconds += time.perf_counter() - t0
        for queue in queues.values():
            queue.put_nowait(None)
        await asyncio.gather(*workers)  # re-raises a worker's failure
        waiter.cancel()
    finally:
        for c in clients.values():
            await c.aclose()
    after = cpu_and_wait(server_pid)
    if before is not None and after is not None:
        phase.server_cpu = (phase.server_cpu or 0.0) + after[0] - before[0]
        phase.server_wait = (phase.server_wait or 0.0) + after[1] - before[1]


@dataclass
class Http:
    phase: Phase
    provisioned: Provisioned
    checks: list[str]


async def measure_http(plan: Plan, chain: dict[str, Any], keep_db: bool) -> Http:
    with tempfile.TemporaryDirectory(prefix="danbao-bench-workflow-") as tmp:
        bundle_dir = write_bundle(Path(tmp) / "bundle", chain)
        settings = bench_settings(Path(tmp) / "var", DB_NAME, REDIS_DB)
        await recreate_database(DB_NAME)
        try:
            done = await provision(settings, bundle_dir)
            async with served(settings, Path(tmp) / "serve.log") as (base, pid):
                t0 = time.perf_counter()
                warm = await start_instances(base, done.submitter, chain["id"], 0, plan.http_warm)
                await approve_all(base, done, warm, Phase(), pid)
                timed = await start_instances(base, done.submitter, chain["id"],
                                              plan.http_warm, plan.http_instances)  # fmt: skip
                phase = Phase(setup_seconds=time.perf_counter() - t0)
                await approve_all(base, done, timed, phase, pid)
                checks = await check_http(settings, base, done, phase)
        finally:
            if not keep_db:
                await drop_database(DB_NAME)
    return Http(phase, done, checks)


async def check_http(settings: Settings, base: str, done: Provisioned, phase: Phase) -> list[str]:
    """Every instance approved, one row per live task left (none), a repeated key answers
    the same, and the tenant's audit chain verifies."""

    checks = []
    assert phase.last is not None
    user, key, body, answer = phase.last
    async with _client(base, done.approvers[user]) as client:
        again = await client.post(f"/t/{SLUG}/api/approvals/{answer['instance']['id']}/actions",
                                  json=body, headers={"idempotency-key": key})  # fmt: skip
    if again.status_code != 200 or again.json() != answer:
        raise SystemExit(f"a repeated Idempotency-Key answered otherwise: {again.text[:300]}")
    checks.append("a repeated Idempotency-Key answers the same, nothing applied twice")
    conn = await asyncpg.connect(settings.database_url)
    try:
        statuses = dict(await conn.fetch(
            "SELECT status, count(*) FROM workflow_instance GROUP BY status"))  # fmt: skip
        live = await conn.fetchval("SELECT count(*) FROM workflow_task")
        actions = await conn.fetchval("SELECT count(*) FROM workflow_action WHERE op = 'approve'")
    finally:
        await conn.close()
    total = sum(statuses.values())
    if statuses != {"approved": total} or live != 0 or actions != total * PER_INSTANCE:
        raise SystemExit(f"instances {statuses}, live tasks {live}, approvals logged {actions}")
    checks.append(f"{total} instances approved, {actions} approvals logged once each, "
                  "no live task left")  # fmt: skip
    checks.append(await verified_audit_chain(settings, done.tenant_id, SLUG, OPERATOR))
    return checks


# --- the report ----------------------------------------------------------------------------


def report(plan: Plan, engine: Engine, http: Http | None) -> list[Row]:
    ours, spiff = engine.ours, engine.spiff
    ratio = statistics.median(engine.ratios)
    made = "reused" if engine.env_seconds is None else f"made in {engine.env_seconds:.1f} s"
    print(f"SpiffWorkflow {engine.spiff_version} in var/bench-envs/spiff ({made})")
    for name, side in (("ours (pure engine, State JSON)", ours),
                       ("SpiffWorkflow (BpmnWorkflowSerializer, definition by name)",
                        spiff)):  # fmt: skip
        print(
            f"engine, {name}: {side.approvals} approvals in {len(side.rates)} rounds, "
            f"median {statistics.median(side.rates):,.0f} approvals/s (start and a save after "
            f"every action included); per approval p50 {us(statistics.median(side.per_action))}"
            f" µs, p99 {us(percentile(side.per_action, 99))} µs"
        )
    print(f"ratio round by round: {', '.join(f'{r:.1f}' for r in engine.ratios)}")
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(f"{METRIC} = {ratio:.1f} ({verdict} the goal >= {GOAL})")
    print(f"state bytes after each action (start, then approvals 1..{PER_INSTANCE}):")
    print(f"  ours:                          {engine.our_sizes}")
    print(f"  Spiff, as saved:               {engine.spiff_sizes}")
    print(f"  Spiff, with its definition:    {engine.spiff_whole_sizes}")
    first, last = engine.our_sizes[1], engine.our_sizes[-1]
    s_first, s_last = engine.spiff_sizes[1], engine.spiff_sizes[-1]
    print(f"ours after action 1 {first:,} B, after the last {last:,} B; Spiff "
          f"{s_first:,} B and {s_last:,} B")  # fmt: skip

    counts = {"quick": plan.quick, "approvals_per_instance": PER_INSTANCE,
              "engine_rounds": plan.rounds, "instances_per_round": plan.per_round,
              "spiff": engine.spiff_version}  # fmt: skip

    def figure(metric: str, value: Any, goal: str | None, baseline: Any, unit: str) -> Row:
        return {"bench": BENCH, "metric": metric, "value": value, "goal": goal,
                "baseline": baseline, "unit": unit, **counts}  # fmt: skip

    figures = [
        figure(METRIC, round(ratio, 1), f">= {GOAL}",
               round(statistics.median(spiff.rates), 1), "x"),
        figure("engine_approvals_per_s", round(statistics.median(ours.rates), 1), None,
               round(statistics.median(spiff.rates), 1), "1/s"),
        figure("engine_approval_p50_us", us(statistics.median(ours.per_action)), None,
               us(statistics.median(spiff.per_action)), "us"),
        figure("state_bytes_after_first_action", first, None, s_first, "B"),
        figure("state_bytes_after_last_action", last, None, s_last, "B"),
        figure("state_growth_bytes_first_to_last_action", last - first, "<= 0",
               s_last - s_first, "B"),
    ]  # fmt: skip
    if http is not None:
        phase, done = http.phase, http.provisioned
        p50, p99 = ms(statistics.median(phase.latency)), ms(percentile(phase.latency, 99))
        rate = phase.approvals / phase.seconds
        print(f"http: postgres {done.postgres}; provisioning (migrate, tenant, "
              f"{APPROVERS + 1} users) {done.seconds:.1f} s; {plan.http_warm + plan.http_instances}"
              f" applications made, submitted and started and the warm-up approved in "
              f"{phase.setup_seconds:.1f} s")  # fmt: skip
        print(
            f"http, danbao serve: {phase.approvals} approvals of {plan.http_instances} "
            f"instances by {CLIENTS} concurrent approvers in {phase.seconds:.2f} s = "
            f"{rate:.1f}/s; per approval p50 {p50} ms, p99 {p99} ms; 409s {phase.conflicts}"
        )
        cpu = None
        if phase.server_cpu is not None and phase.server_wait is not None:
            cpu = round(phase.server_cpu / phase.approvals * 1000, 2)
            print(
                f"server event loop: {cpu} ms CPU per approval; of the phase's wall time it ran "
                f"{phase.server_cpu / phase.seconds:.0%} and waited runnable for a CPU "
                f"{phase.server_wait / phase.seconds:.0%}"
            )
        for line in http.checks:
            print(f"check: {line}")
        counts["http_approvals"] = phase.approvals
        counts["clients"] = CLIENTS
        figures += [
            figure("http_approvals_per_s", round(rate, 1), None, None, "1/s"),
            figure("http_approve_p50_ms", p50, None, None, "ms"),
            figure("http_approve_p99_ms", p99, None, None, "ms"),
            figure("server_cpu_ms_per_approval", cpu, None, None, "ms"),
        ]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, well under 2 minutes")
    parser.add_argument("--skip-http", action="store_true", help="the engine and state only")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} for inspection")
    args = parser.parse_args()
    if args.quick:
        plan = Plan(True, rounds=4, per_round=20, http_warm=4, http_instances=16)
    else:
        plan = Plan(False, rounds=8, per_round=100, http_warm=16, http_instances=160)
    # A terminated run still stops its server and drops its database (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wall = time.perf_counter()
    print_header(BENCH, plan.quick)
    print(
        f"plan: chain of {len(LEVELS)} levels then a countersign of 5 ({PER_INSTANCE} approvals "
        f"an instance); engine: {plan.rounds} alternating rounds of {plan.per_round} instances "
        f"per side; http: {plan.http_instances} instances, {CLIENTS} approvers"
    )
    chain = load_chain()
    engine = measure_engine(plan, chain)
    print(f"engine and state measured in {time.perf_counter() - wall:.0f} s")
    http = None if args.skip_http else asyncio.run(measure_http(plan, chain, args.keep_db))
    figures = report(plan, engine, http)
    print(f"total {time.perf_counter() - wall:.0f} s")
    for row in figures:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
