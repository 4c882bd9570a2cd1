"""Forms: render and validate a 150-field form, and submit applications over HTTP.

Generates a 150-field form definition (text, numbers, money, percentages, dates, choices,
Chinese ID numbers, switches, and a repeating section with a 20-row sample record), puts it
in a bundle beside the starter template's files and loads it through the real loader and
validator (``load_bundle``). Then three measurements, each beside a baseline from the same
run:

1. **render**: the staff page of the filled record (``form_pages._page``, the function the
   record page calls: fields built from the definition, field rules, the Jinja2 templates)
   against a plain Jinja2 template that prints the same inputs, labels and options from
   prepared dicts (what any generated page costs at least);
2. **validate**: ``records.validation.validate_data`` on the whole record, as a submission
   checks it, against jsonschema's own ``Draft202012Validator`` for the same schema and
   formats, built once and reused;
3. **submit**: ``danbao serve`` in a child process on a database of its own (PostgreSQL,
   app role, row-level security on) and 32 concurrent clients (httpx, a staff user and API
   token each) that create a draft with the full record and submit it; the baseline is
   raw asyncpg on 32 connections writing the same rows (record, number sequence, audit
   events in the hash chain) in the same two transactions per application. The figure is
   the ratio of the throughputs (goal >= 0.5).

    .venv/bin/python bench/forms.py            # full run (3-10 minutes on 2 cores)
    .venv/bin/python bench/forms.py --quick    # a small run, under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import jinja2
from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import Response
from tortoise.transactions import in_transaction

from benchlib import (
    bench_settings,
    cpu_and_wait,
    drop_database,
    percentile,
    print_header,
    recreate_database,
    served,
    user_like,
    verified_audit_chain,
)
from danbao.audit.chain import APPEND, append_arguments
from danbao.auth.sessions import issue_api_token
from danbao.authz.cache import EnforcerCache
from danbao.authz.masking import apply_field_rules
from danbao.config import Settings
from danbao.db.models import AuditEvent, Record, User
from danbao.definitions import Bundle, load_bundle
from danbao.forms import format_checker
from danbao.forms.identifiers import today_in_china
from danbao.ids import new_id
from danbao.provisioning import create_tenant, create_user, operator_context
from danbao.records.definition import FormDefinition
from danbao.records.numbering import pattern_for, period_of
from danbao.records.validation import validate_data
from danbao.redaction import redact
from danbao.tenancy.context import TenantId, tenant_scope
from danbao.tenancy.registry import TenantInfo
from danbao.web import form_pages
from danbao.web.records_api import FormContext
from danbao.web.tenant_endpoint import Caller
from forms_definition import FORM_ID, ROLE, ROWS, Row, build_form, sample_record, write_bundle

BENCH = "forms"
METRIC = "submit_throughput_ratio_vs_asyncpg"
GOAL = 0.5
DB_NAME = "danbao_bench_forms"
REDIS_DB = 8  # tenants.py takes 4, plugins.py 7
SLUG = "bench-forms"
DEPARTMENT = "business"
PASSWORD = "Bench-password-2026"
OPERATOR = "bench"
LOCALE = "zh-CN"
CLIENTS = 32


@dataclass(frozen=True)
class Plan:
    quick: bool
    loads: int  # load_bundle repetitions
    render_samples: int
    validate_samples: int
    rounds: int  # interleaved HTTP / asyncpg rounds
    per_round: int  # applications per phase and round


# --- timing helpers ----------------------------------------------------------------------


def time_each(call: Callable[[], object], count: int) -> list[float]:
    clock, out = time.perf_counter, []
    for _ in range(count):
        started = clock()
        call()
        out.append(clock() - started)
    return out


def interleaved(
    calls: dict[str, Callable[[], object]], samples: int, rounds: int = 5
) -> dict[str, list[float]]:
    """Seconds per call of each, in alternating rounds (a slow spell hits all of them)."""
    for call in calls.values():  # warm-up: caches, compiled templates and validators
        for _ in range(3):
            call()
    out: dict[str, list[float]] = {name: [] for name in calls}
    for k in range(rounds):
        names = list(calls) if k % 2 == 0 else list(reversed(calls))
        for name in names:
            out[name] += time_each(calls[name], max(1, samples // rounds))
    return out


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# --- render and validate, in process ---------------------------------------------------


BASELINE_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><form method="post" action="{{ action }}">
{% for section in sections %}<section><h2>{{ section.title }}</h2>
{% for f in section.fields %}<div class="field"><label for="{{ f.id }}">{{ f.label }}</label>
{% if f.options %}<select id="{{ f.id }}" name="{{ f.name }}"><option value="">请选择</option>
{% for value, text in f.options %}<option value="{{ value }}"{% if value == f.value %} selected{%
endif %}>{{ text }}</option>{% endfor %}</select>
{% elif f.type == "textarea" %}<textarea id="{{ f.id }}" name="{{ f.name }}">{{ f.value
}}</textarea>
{% else %}<input type="{{ f.type }}" id="{{ f.id }}" name="{{ f.name }}" value="{{ f.value }}">
{% endif %}</div>
{% endfor %}</section>{% endfor %}
<button type="submit">提交</button></form></body></html>
"""


def _plain_field(key: str, name: str, prop: dict[str, Any], value: Any) -> Row:
    options = [(o["const"], o["title"]) for o in prop.get("oneOf", [])]
    kind = prop.get("type")
    html_type = {"integer": "number", "number": "number", "boolean": "checkbox"}.get(
        str(kind), "date" if prop.get("format") == "date" else "text"
    )
    if (prop.get("maxLength") or 0) > form_pages.TEXTAREA_OVER:
        html_type = "textarea"
    return {"id": f"f-{name}", "name": name, "label": prop.get("title", key), "type": html_type,
            "options": options, "value": "" if value is None else value}  # fmt: skip


def plain_page_context(form: dict[str, Any], data: Row) -> Row:
    """The same inputs, labels and options as the generated page, as ready dicts."""
    props = form["schema"]["properties"]
    sections = []
    for section in form["ui"]["layout"]:
        fields = []
        for key in section["fields"]:
            prop = props[key]
            if prop.get("type") != "array":
                fields.append(_plain_field(key, key, prop, data.get(key)))
                continue
            items = prop["items"]["properties"]
            for r, row in enumerate([*data.get(key, []), {}]):  # the rows and the blank one
                for sub, sub_prop in items.items():
                    fields.append(_plain_field(sub, f"{key}[{r}][{sub}]", sub_prop, row.get(sub)))
        sections.append({"title": section["title"]["zh-CN"], "fields": fields})
    return {"title": form["title"]["zh-CN"], "action": "/forms/x", "sections": sections}


def page_request(tenant: TenantInfo, record_id: str) -> Request:
    """What the record page's handler holds when it renders: its request, caller set."""
    path = f"/t/{tenant.slug}/forms/{FORM_ID}/records/{record_id}"
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("bench", 80),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"accept-language", b"zh-CN,zh;q=0.9")],
        "path_params": {"slug": tenant.slug, "form_id": FORM_ID, "record_id": record_id},
        "state": {},
    }
    request = Request(scope)
    request.state.caller = Caller(tenant, None)
    return request


@dataclass
class Offline:
    bundle: Bundle
    load_s: list[float]
    timings: dict[str, list[float]]
    page_bytes: int
    new_page_bytes: int
    plain_bytes: int
    inputs: int


def without_io(coroutine: Coroutine[Any, Any, Response]) -> Response:
    """The page of a coroutine that never waits: the bench form has no user picker, so
    ``_page`` reads nothing from the database and runs to its end at once, timed alone."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(Response, done.value)
    coroutine.close()
    raise SystemExit("form_pages._page waited on I/O: the offline render needs none")


def measure_offline(plan: Plan, bundle_dir: Path, form_json: dict[str, Any], data: Row) -> Offline:
    loaded: list[Bundle] = []
    load_s = time_each(lambda: loaded.append(load_bundle(bundle_dir)), plan.loads)
    bundle = loaded[-1]
    form = FormDefinition.from_bundle(bundle, FORM_ID)

    errors = validate_data(form, data, complete=True, locale=LOCALE)
    if errors:
        raise SystemExit(f"the sample record is invalid: {[e.as_json() for e in errors[:5]]}")
    plain_validator = Draft202012Validator(form.schema, format_checker=format_checker())
    if list(plain_validator.iter_errors(data)):
        raise SystemExit("jsonschema refuses the sample record")

    tenant = TenantInfo(TenantId(new_id()), SLUG, "基准担保", "active", None)
    user = User(id=new_id(), email="am@bench", name="客户经理", password_hash="", roles=[ROLE],
                department=DEPARTMENT)  # fmt: skip
    enforcer = EnforcerCache(1).get_or_build(str(tenant.id), 1, bundle.permissions)
    ctx = FormContext(user, 1, bundle, enforcer, form)
    record = Record(id=new_id(), form_id=FORM_ID, form_version=1, status="draft", data=data,
                    created_by=user.id, revision=3)  # fmt: skip
    request = page_request(tenant, str(record.id))
    new_request = page_request(tenant, "new")
    defaults = {k: p["default"] for k, p in form.properties.items() if "default" in p}

    def render_record() -> bytes:  # what record_page does after reading the record
        values = apply_field_rules(record.data, ctx.rules)
        page = form_pages._page(request, ctx, form, record=record, values=values)
        return bytes(without_io(page).body)

    def render_new() -> bytes:
        page = form_pages._page(new_request, ctx, form, record=None, values=defaults)
        return bytes(without_io(page).body)

    env = jinja2.Environment(autoescape=True)
    plain = env.from_string(BASELINE_TEMPLATE)
    plain_ctx = plain_page_context(form_json, data)

    def render_plain() -> str:
        return plain.render(plain_ctx)

    page, new_page, plain_page = render_record(), render_new(), render_plain()
    controls = page.count(b"<input") + page.count(b"<select") + page.count(b"<textarea")
    if controls < 149 + ROWS * 9:
        raise SystemExit(f"the rendered page has {controls} inputs: is the form shown?")
    timings = interleaved(
        {"render": render_record, "render_new": render_new, "render_plain": render_plain},
        plan.render_samples,
    )
    timings |= interleaved(
        {
            "validate": lambda: validate_data(form, data, complete=True, locale=LOCALE),
            "validate_draft": lambda: validate_data(form, data, complete=False, locale=LOCALE),
            "validate_plain": lambda: list(plain_validator.iter_errors(data)),
        },
        plan.validate_samples,
    )
    inputs = sum(len(s["fields"]) for s in plain_ctx["sections"])
    return Offline(
        bundle, load_s, timings, len(page), len(new_page), len(plain_page.encode()), inputs
    )


# --- services ------------------------------------------------------------------------------


@dataclass
class Staff:
    user_id: uuid.UUID
    secret: str


@dataclass
class Provisioned:
    tenant_id: uuid.UUID
    staff: list[Staff]
    postgres: str
    seconds: float


async def provision(settings: Settings, bundle_dir: Path) -> Provisioned:
    """Migrate; the tenant from the bundle (create_tenant validates it again); 32 account
    managers with an API token each, so that no sign-in is timed."""
    from danbao.db.setup import close_db, open_db, run_migrations

    started = time.perf_counter()
    await run_migrations(settings)
    await open_db(settings, "owner")
    try:
        tenant, _ = await create_tenant(
            SLUG, bundle_dir, admin_email="admin@forms.bench", admin_password=PASSWORD,
            operator=OPERATOR,
        )  # fmt: skip
        staff = []
        with tenant_scope(operator_context(tenant, OPERATOR)):
            async with in_transaction():
                first = await create_user(
                    "am0@forms.bench", "客户经理0", PASSWORD, [ROLE], DEPARTMENT
                )
                for n in range(CLIENTS):
                    user = (
                        first
                        if n == 0
                        else await user_like(
                            first, f"am{n}@forms.bench", f"客户经理{n}", [ROLE], DEPARTMENT
                        )
                    )
                    _, secret = await issue_api_token(user, "bench", days=1)
                    staff.append(Staff(uuid.UUID(str(user.id)), secret))
    finally:
        await close_db()
    conn = await asyncpg.connect(settings.database_url)
    try:
        postgres = await conn.fetchval("SHOW server_version")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Provisioned(uuid.UUID(str(tenant.id)), staff, postgres, time.perf_counter() - started)


# --- the load: over HTTP, and the same rows with raw asyncpg -----------------------------


@dataclass
class Phase:
    """One side's samples over all its rounds."""

    apps: int = 0
    seconds: float = 0.0
    # Seconds the driving process's main thread ran (the server for HTTP, this process for
    # asyncpg), and was runnable but waited for a CPU.
    server_cpu: float | None = None
    server_wait: float | None = None
    app_latency: list[float] = field(default_factory=list)  # create + submit
    create_latency: list[float] = field(default_factory=list)
    submit_latency: list[float] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.apps / self.seconds


async def _drive(
    workers: Sequence[Callable[[], Any]], count: int, phase: Phase | None, pid: int | None = None
) -> None:
    """``count`` applications shared by the workers; each worker runs one at a time.
    With ``pid``, the CPU time that process spends meanwhile is added to the phase."""
    taken = itertools.count()
    before = cpu_and_wait(pid) if pid else None

    async def loop(work: Callable[[], Any]) -> None:
        while next(taken) < count:
            await work()

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in workers))
    if phase is not None:
        phase.seconds += time.perf_counter() - started
        phase.apps += count
        after = cpu_and_wait(pid) if pid else None
        if before is not None and after is not None:
            phase.server_cpu = (phase.server_cpu or 0.0) + after[0] - before[0]
            phase.server_wait = (phase.server_wait or 0.0) + after[1] - before[1]


class HttpClient:
    """One staff member's browser-less client: create a draft, submit it."""

    def __init__(self, base: str, staff: Staff, body: bytes, phase: Phase) -> None:
        self.client = httpx.AsyncClient(
            base_url=base,
            headers={"authorization": f"Bearer {staff.secret}",
                     "content-type": "application/json", "accept-language": LOCALE},
            timeout=60,
            # Below uvicorn's 5 s keep-alive: a connection idle through an asyncpg round is
            # dropped here first, never reused just as the server closes it.
            limits=httpx.Limits(keepalive_expiry=2.0),
        )  # fmt: skip
        self.url = f"/t/{SLUG}/api/forms/{FORM_ID}/records"
        self.body = body
        self.phase = phase

    async def application(self) -> None:
        clock = time.perf_counter
        started = clock()
        created = await self.client.post(self.url, content=self.body)
        if created.status_code != 201:
            raise SystemExit(f"create: {created.status_code} {created.text[:500]}")
        record_id = created.json()["id"]
        middle = clock()
        submitted = await self.client.post(f"{self.url}/{record_id}/submit")
        if submitted.status_code != 200 or not submitted.json().get("number"):
            raise SystemExit(f"submit: {submitted.status_code} {submitted.text[:500]}")
        done = clock()
        self.phase.create_latency.append(middle - started)
        self.phase.submit_latency.append(done - middle)
        self.phase.app_latency.append(done - started)
        self.phase.record_ids.append(record_id)

    async def close(self) -> None:
        await self.client.aclose()


INSERT_RECORD = (
    "INSERT INTO form_record (id, tenant_id, form_id, form_version, number, status, data, "
    "search_index, revision, created_by, department, created_at, updated_at, submitted_at) "
    "VALUES ($1, $2, $3, $4, NULL, 'draft', $5, $6, 1, $7, $8, $9, $9, NULL)"
)
LOCK_RECORD = "SELECT status FROM form_record WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
NEXT_NUMBER = (
    "INSERT INTO number_sequence (id, tenant_id, name, period, last_value) "
    "VALUES ($1, $2, $3, $4, 1) ON CONFLICT (tenant_id, name, period) "
    "DO UPDATE SET last_value = number_sequence.last_value + 1 RETURNING last_value"
)
SUBMIT_RECORD = (
    "UPDATE form_record SET number = $3, status = 'submitted', submitted_at = $4, "
    "updated_at = $4 WHERE tenant_id = $1 AND id = $2"
)


@dataclass(frozen=True)
class Stored:
    """What the app stored for one record (sealed data, search index), reused row for row."""

    data: str
    search_index: str
    fields: list[str]
    version: int


class RawClient:
    """The same rows as the app writes, by hand: two transactions per application, as the
    app role with the tenant in ``SET LOCAL`` (row-level security on), the app's
    statements in the app's order, the audit events appended by the statement
    ``record_event`` itself runs (danbao.audit.chain.APPEND), so they join the same chain."""

    def __init__(
        self, conn: asyncpg.Connection, tenant_id: uuid.UUID, staff: Staff, stored: Stored,
        number_pattern: Any, phase: Phase,
    ) -> None:  # fmt: skip
        self.conn, self.tenant_id, self.staff, self.stored = conn, tenant_id, staff, stored
        self.pattern, self.phase = number_pattern, phase
        self.set_tenant = f"SET LOCAL app.tenant_id = '{tenant_id}'"

    async def _event(self, action: str, object_id: str, data: Row) -> None:
        """The audit event, appended by the statement record_event uses on PostgreSQL."""
        clean = json.loads(json.dumps(redact(data), default=str))  # as record_event stores it
        event = AuditEvent(
            tenant_id=self.tenant_id, at=datetime.now(UTC), actor_kind="user",
            actor_id=str(self.staff.user_id), action=action, object_type="record",
            object_id=object_id, data=clean, request_id=uuid.uuid4().hex,
        )  # fmt: skip
        if await self.conn.fetchrow(APPEND, *append_arguments(event)) is None:
            raise SystemExit("the tenant has no audit head")

    async def application(self) -> None:
        clock = time.perf_counter
        started = clock()
        record_id, now = new_id(), datetime.now(UTC)
        async with self.conn.transaction():
            await self.conn.execute(self.set_tenant)
            await self.conn.execute(
                INSERT_RECORD, record_id, self.tenant_id, FORM_ID, self.stored.version,
                self.stored.data, self.stored.search_index, self.staff.user_id, DEPARTMENT, now,
            )  # fmt: skip
            created = {"form": FORM_ID, "form_version": self.stored.version,
                       "fields": self.stored.fields}  # fmt: skip
            await self._event("record.created", str(record_id), created)
        middle = clock()
        async with self.conn.transaction():
            await self.conn.execute(self.set_tenant)
            await self.conn.fetchrow(LOCK_RECORD, self.tenant_id, record_id)
            today = today_in_china()
            value = await self.conn.fetchval(
                NEXT_NUMBER, new_id(), self.tenant_id, "project", period_of(self.pattern, today)
            )
            number = self.pattern.format(value, today)
            await self.conn.execute(SUBMIT_RECORD, self.tenant_id, record_id, number,
                                    datetime.now(UTC))  # fmt: skip
            await self._event("record.submitted", str(record_id), {"number": number})
        done = clock()
        self.phase.create_latency.append(middle - started)
        self.phase.submit_latency.append(done - middle)
        self.phase.app_latency.append(done - started)
        self.phase.record_ids.append(str(record_id))


async def stored_row(settings: Settings, record_id: str) -> Stored:
    conn = await asyncpg.connect(settings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT data::text AS data, search_index::text AS search_index, form_version "
            "FROM form_record WHERE id = $1",
            uuid.UUID(record_id),
        )
        fields = sorted(json.loads(row["data"]))
    finally:
        await conn.close()
    return Stored(row["data"], row["search_index"], fields, row["form_version"])


@dataclass
class Load:
    http: Phase
    raw: Phase
    checks: list[str]


async def run_load(
    plan: Plan, settings: Settings, done: Provisioned, data: Row, bundle: Bundle, log: Path
) -> Load:
    body = json.dumps({"data": data}, ensure_ascii=False).encode()
    http, raw = Phase(), Phase()
    warm_http, warm_raw = Phase(), Phase()
    pattern = pattern_for(bundle.tenant, FormDefinition.from_bundle(bundle, FORM_ID).numbering_key)
    async with served(settings, log) as (base, server_pid):
        clients = [HttpClient(base, s, body, http) for s in done.staff]
        conns = [
            await asyncpg.connect(
                settings.app_database_url, server_settings={"application_name": "bench-raw"}
            )
            for _ in range(CLIENTS)
        ]
        try:
            # Warm-up: one application per client (connections, caches, the tenant's keys).
            for c in clients:
                c.phase = warm_http
            await _drive([c.application for c in clients], CLIENTS, None)
            stored = await stored_row(settings, warm_http.record_ids[0])
            raws = [RawClient(conn, done.tenant_id, s, stored, pattern, warm_raw)
                    for conn, s in zip(conns, done.staff, strict=True)]  # fmt: skip
            await _drive([r.application for r in raws], CLIENTS, None)
            for c in clients:
                c.phase = http
            for r in raws:
                r.phase = raw
            for rnd in range(plan.rounds):
                order = ("http", "raw") if rnd % 2 == 0 else ("raw", "http")
                for side in order:
                    if side == "http":
                        await _drive([c.application for c in clients], plan.per_round, http,
                                     server_pid)  # fmt: skip
                    else:
                        await _drive([r.application for r in raws], plan.per_round, raw,
                                     os.getpid())  # fmt: skip
            checks = await check_rows(settings, done, clients[0], raw.record_ids, data)
        finally:
            for c in clients:
                await c.close()
            for conn in conns:
                await conn.close()
    return Load(http, raw, checks)


async def check_rows(
    settings: Settings, done: Provisioned, client: HttpClient, raw_ids: list[str], data: Row
) -> list[str]:
    """The baseline wrote what the app writes: its records read back through the API like
    the app's own, numbers are unique and consecutive, and the audit chain verifies."""

    conn = await asyncpg.connect(settings.database_url)
    try:
        # One of the first staff member's baseline records (hers to read, scope "own").
        rid = await conn.fetchval(
            "SELECT id::text FROM form_record WHERE created_by = $1 AND id = ANY($2::uuid[]) "
            "LIMIT 1",
            done.staff[0].user_id,
            [uuid.UUID(r) for r in raw_ids],
        )
        numbers = await conn.fetch(
            "SELECT number FROM form_record WHERE tenant_id = $1 AND status = 'submitted'",
            done.tenant_id,
        )
        last = await conn.fetchval(
            "SELECT last_value FROM number_sequence WHERE tenant_id = $1", done.tenant_id
        )
    finally:
        await conn.close()
    checks = []
    if rid is not None:
        shown = await client.client.get(f"{client.url}/{rid}")
        if shown.status_code != 200 or shown.json()["data"] != data:
            raise SystemExit(f"a baseline record does not read back as the app's: {shown.text}")
        checks.append("a baseline record reads back through the API equal to the sample")
    seqs = sorted(int(r["number"].rsplit("-", 1)[1]) for r in numbers)
    if seqs != list(range(1, len(seqs) + 1)) or last != len(seqs):
        raise SystemExit(f"numbers are not unique and consecutive: {len(seqs)} vs {last}")
    checks.append(f"{len(seqs)} submitted records numbered 1..{len(seqs)} without a gap")
    checks.append(await verified_audit_chain(settings, done.tenant_id, SLUG, OPERATOR))
    return checks


# --- the run -----------------------------------------------------------------------------


def _pcts(samples: list[float]) -> tuple[float, float]:
    return ms(statistics.median(samples)), ms(percentile(samples, 99))


async def run(plan: Plan, keep_db: bool) -> list[Row]:
    wall = time.perf_counter()
    form_json = build_form()
    data = sample_record()
    with tempfile.TemporaryDirectory(prefix="danbao-bench-forms-") as tmp:
        bundle_dir = write_bundle(Path(tmp) / "bundle", form_json)
        offline = measure_offline(plan, bundle_dir, form_json, data)
        bundle = offline.bundle
        settings = bench_settings(Path(tmp) / "var", DB_NAME, REDIS_DB)
        await recreate_database(DB_NAME)
        try:
            done = await provision(settings, bundle_dir)
            load = await run_load(plan, settings, done, data, bundle, Path(tmp) / "serve.log")
        finally:
            if not keep_db:
                await drop_database(DB_NAME)
    return report(plan, offline, done, load, len(json.dumps(data, ensure_ascii=False)), wall)


def report(
    plan: Plan, off: Offline, done: Provisioned, load: Load, record_chars: int, wall: float
) -> list[Row]:
    t = off.timings
    med = {name: ms(statistics.median(v)) for name, v in t.items()}
    p99 = {name: ms(percentile(v, 99)) for name, v in t.items()}
    print(f"postgres {done.postgres}; provisioning (migrate, tenant, {CLIENTS} staff) "
          f"{done.seconds:.1f} s")  # fmt: skip
    print(
        f"definition: 150 fields (149 + a repeating section of 9 columns), record "
        f"{record_chars:,} characters of JSON with {ROWS} rows; load_bundle median "
        f"{ms(statistics.median(off.load_s))} ms over {len(off.load_s)} loads"
    )
    print(
        f"render, record page with {ROWS} rows (form_pages._page): median {med['render']} ms, "
        f"p99 {p99['render']} ms, {off.page_bytes:,} bytes"
    )
    print(f"render, new page (defaults only): median {med['render_new']} ms, "
          f"{off.new_page_bytes:,} bytes")  # fmt: skip
    print(
        f"baseline: plain Jinja2, the same {off.inputs} inputs, labels and options from ready "
        f"dicts: median {med['render_plain']} ms, {off.plain_bytes:,} bytes "
        f"-> {med['render'] / med['render_plain']:.1f}x"
    )
    print(
        f"validate, whole record (records.validation.validate_data, as a submission): median "
        f"{med['validate']} ms, p99 {p99['validate']} ms; as a draft save "
        f"{med['validate_draft']} ms"
    )
    print(
        f"baseline: jsonschema Draft202012Validator built once, same formats: median "
        f"{med['validate_plain']} ms -> {med['validate'] / med['validate_plain']:.2f}x"
    )
    http, raw = load.http, load.raw
    ratio = http.throughput / raw.throughput
    for name, phase in (("HTTP (danbao serve)", http), ("raw asyncpg", raw)):
        p50, p99_ = _pcts(phase.app_latency)
        c50, _ = _pcts(phase.create_latency)
        s50, _ = _pcts(phase.submit_latency)
        print(
            f"submit, {name}: {phase.apps} applications by {CLIENTS} clients in "
            f"{phase.seconds:.2f} s = {phase.throughput:.1f}/s; per application p50 {p50} ms, "
            f"p99 {p99_} ms (create p50 {c50} ms, submit p50 {s50} ms)"
        )
    for who, phase in (("server event loop", http), ("asyncpg client (this process)", raw)):
        if phase.server_cpu is not None and phase.server_wait is not None:
            print(
                f"{who}: {phase.server_cpu / phase.apps * 1000:.1f} ms CPU per application; of "
                f"its phases' wall time it ran {phase.server_cpu / phase.seconds:.0%} and waited "
                f"runnable for a CPU {phase.server_wait / phase.seconds:.0%}"
            )
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(f"{METRIC} = {ratio:.3f} ({verdict} the goal >= {GOAL})")
    for line in load.checks:
        print(f"check: {line}")
    print(f"total {time.perf_counter() - wall:.0f} s")

    counts = {"quick": plan.quick, "fields": 150, "rows": ROWS, "clients": CLIENTS,
              "applications": http.apps, "render_samples": len(t["render"]),
              "validate_samples": len(t["validate"])}  # fmt: skip

    def figure(metric: str, value: float, goal: str | None, baseline: Any, unit: str) -> Row:
        return {"bench": BENCH, "metric": metric, "value": value, "goal": goal,
                "baseline": baseline, "unit": unit, **counts}  # fmt: skip

    http_p50, http_p99 = _pcts(http.app_latency)
    raw_p50, raw_p99 = _pcts(raw.app_latency)
    return [
        figure(METRIC, round(ratio, 3), f">= {GOAL}", round(raw.throughput, 1), "x"),
        figure("submit_applications_per_s", round(http.throughput, 1), None,
               round(raw.throughput, 1), "1/s"),
        figure("submit_p50_ms", http_p50, None, raw_p50, "ms"),
        figure("submit_p99_ms", http_p99, None, raw_p99, "ms"),
        figure("render_ms", med["render"], None, med["render_plain"], "ms"),
        figure("render_new_ms", med["render_new"], None, med["render_plain"], "ms"),
        figure("validate_ms", med["validate"], None, med["validate_plain"], "ms"),
        figure("validate_draft_ms", med["validate_draft"], None, med["validate_plain"], "ms"),
        figure("server_cpu_ms_per_application",
               round(http.server_cpu / http.apps * 1000, 2) if http.server_cpu else None, None,
               None, "ms"),
        figure("definition_load_ms", ms(statistics.median(off.load_s)), None, None, "ms"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} for inspection")
    args = parser.parse_args()
    if args.quick:
        plan = Plan(True, loads=1, render_samples=20, validate_samples=60, rounds=2,
                    per_round=48)  # fmt: skip
    else:
        plan = Plan(False, loads=5, render_samples=200, validate_samples=1000, rounds=4,
                    per_round=400)  # fmt: skip
    # A terminated run still stops its server and drops its database (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print_header(BENCH, plan.quick)
    print(
        f"plan: 150-field form, {ROWS}-row sample; {plan.render_samples} renders and "
        f"{plan.validate_samples} validations each; {plan.rounds} interleaved rounds of "
        f"{plan.per_round} applications over HTTP and with raw asyncpg, {CLIENTS} clients"
    )
    for result in asyncio.run(run(plan, args.keep_db)):
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
