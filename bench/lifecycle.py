"""Lifecycle: what it costs to generate and sign a contract PDF, against WeasyPrint alone.

One contract of demo guarantor A (tenants/gxdb, its own template) issued for real, on
PostgreSQL as the app role under row-level security: the number from the tenant's
sequence, the template rendered in the sandbox, the PDF made with Chinese fonts, signed
with the tenant's PAdES seal through the e-signature call path, both PDFs stored with
their SHA-256, the document row and two audit events. The baseline, in the same run, is
WeasyPrint turning the very same rendered HTML into a PDF (no template, sandbox,
numbering, signing, storage or database), so the ratio says what our steps add to the
part no implementation can skip.

    .venv/bin/python bench/lifecycle.py            # 20 contracts each
    .venv/bin/python bench/lifecycle.py --quick    # 3 contracts each (CI)

Then the project page (`GET /t/{slug}/projects/{id}`, HTML over the app, signed in as
the general manager) for a project whose timeline holds 500 events (a ticket conversation
and its replies, each one audit event, written through the service), against the same
page of a project whose whole history fits the page (50 events, the page's length) in the
same run: both pages show 50 entries, so the ratio says what the 450 older events cost.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from tortoise.transactions import in_transaction

from benchlib import bench_settings, drop_database, percentile, print_header, recreate_database
from danbao.config import REPO_ROOT
from danbao.db.models import Project, Record, User
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.definitions import load_bundle
from danbao.documents.compose import Facts, compose_html
from danbao.documents.issuing import issue, project_facts
from danbao.documents.pdf import html_to_pdf
from danbao.guarantee import service as projects
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal
from danbao.plugins.tenant_config import configure
from danbao.provisioning import create_tenant, create_user
from danbao.records.definition import FormDefinition
from danbao.records.sensitive import mark_open
from danbao.tenancy.context import Principal, TenantContext, tenant_scope
from danbao.tickets import service as tickets
from danbao.web.app import create_app

BENCH = "lifecycle"
METRIC = "contract_sign_median_ms"
GOAL_RATIO = 1.5  # our steps may add at most half of what WeasyPrint alone takes
PAGE_EVENTS = 500
ONE_PAGE = 50  # the project page shows the newest 50 timeline entries
PAGE_GOAL_RATIO = 1.5  # a long history may add at most half of a one-page history's time
PASSWORD = "Bench-password-2026"
DB_NAME = "danbao_bench_lifecycle"
REDIS_DB = 10  # tenants.py takes 4, plugins.py 7, forms.py 8, authz.py 9
BUNDLE = REPO_ROOT / "tenants" / "gxdb"
GUARANTOR = "四川广信融资担保集团有限公司"
DATA: dict[str, Any] = {
    "branch": "chengdu",
    "business_type": "working_capital",
    "enterprise_size": "small",
    "industry": "C",
    "applicant_name": "成都蜀锦科技有限公司",
    "uscc": "91510100MA6CGUGA1W",
    "legal_rep_name": "王五",
    "amount": 3000000,
    "term_months": 12,
    "lending_bank": "icbc",
    "purpose": "采购原材料，补充流动资金",
    "bank_risk_share_pct": 20,
    "fee_rate_pct": 1.5,
    "counter_guarantees": [
        {
            "kind": "mortgage",
            "description": f"成都市高新区厂房第{i}号",
            "owner": "王五",
            "certificate_no": f"川(2024)成都市不动产权第000000{i}号",
            "appraised_value_yuan": 1000000 + i,
        }
        for i in range(1, 4)
    ],
}


def summary(name: str, samples: list[float]) -> dict[str, float]:
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    print(f"{name:<38} p50 {p50:9.1f} ms   p99 {p99:9.1f} ms   ({len(samples)} runs)")
    return {"p50": p50, "p99": p99}


async def run(count: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as var_dir:
        settings = bench_settings(Path(var_dir), DB_NAME, REDIS_DB)
        await recreate_database(DB_NAME)
        try:
            await run_migrations(settings)
            await open_db(settings, "owner")
            try:
                tenant, version = await create_tenant(
                    "bench",
                    BUNDLE,
                    admin_email="admin@bench.test",
                    admin_password="Bench-password-2026",
                    operator="bench",
                )
            finally:
                await close_db()
            return await measure(settings, tenant.id, version, count)
        finally:
            await drop_database(DB_NAME)


async def measure(settings: Any, tenant_id: Any, version: int, count: int) -> list[dict[str, Any]]:
    bundle = load_bundle(BUNDLE)
    app = create_app(settings)
    async with LifespanManager(app):
        services = app.state.services
        with tenant_scope(TenantContext(tenant_id, "bench", Principal.system("bench"))):
            async with in_transaction():
                admin = await User.get(email="admin@bench.test")
                seal = seal_settings(new_seal(GUARANTOR), GUARANTOR)
                await configure(services.keys, LocalPadesSigner, settings=seal)
                record = await Record.create(
                    form_id="application",
                    form_version=version,
                    number="GX-2026-00001",
                    status="submitted",
                    data=DATA,
                    created_by=admin.id,
                )
        ctx = TenantContext(tenant_id, "bench", Principal("user", str(admin.id), "bench"))

        async def ours() -> None:
            with tenant_scope(ctx):
                async with in_transaction():
                    await issue(
                        bundle,
                        version,
                        "contract",
                        record,
                        gateway=services.plugins,
                        store=services.store,
                        verify_base="http://bench/t/bench/verify/",
                        issued_by=str(admin.id),
                    )

        facts = Facts(
            "广信保合字〔2026〕第00001号", dt.date.today(), None, project_facts(record, None)
        )
        html = compose_html(bundle, "contract", DATA, facts)

        async def weasyprint_alone() -> None:
            await asyncio.to_thread(html_to_pdf, html)

        samples: dict[str, list[float]] = {"ours": [], "baseline": []}
        await ours()  # warm up: fonts, the compiled template, the seal, the pool
        await weasyprint_alone()
        # Interleaved, so a busy neighbour on the machine slows both alike.
        for _ in range(count):
            for name, step in (("baseline", weasyprint_alone), ("ours", ours)):
                started = time.perf_counter()
                await step()
                samples[name].append((time.perf_counter() - started) * 1000)
        pages = await page_latency(app, settings, bundle, record, tenant_id, version, count)
    baseline = summary("WeasyPrint alone (same HTML)", samples["baseline"])
    path = summary("issue: render, PDF, sign, store, row", samples["ours"])
    ratio = path["p50"] / baseline["p50"]
    print(f"ratio: {ratio:.2f}x WeasyPrint alone (goal <= {GOAL_RATIO}x)")
    return [
        *pages,
        {
            "bench": BENCH,
            "metric": METRIC,
            "value": round(path["p50"], 1),
            "goal": None,
            "baseline": round(baseline["p50"], 1),
            "unit": "ms",
        },
        {
            "bench": BENCH,
            "metric": "contract_sign_ratio_vs_weasyprint",
            "value": round(ratio, 2),
            "goal": f"<= {GOAL_RATIO}",
            "baseline": round(baseline["p50"], 1),
            "unit": "x",
        },
    ]


async def page_latency(
    app: Any, settings: Any, bundle: Any, record: Record, tenant_id: Any, version: int, count: int
) -> list[dict[str, Any]]:
    """The project page of a 500-event project against the same page of a small one."""
    form = FormDefinition.from_bundle(bundle, "application")
    services = app.state.services
    system = TenantContext(tenant_id, "bench", Principal.system("bench"))
    ids: dict[str, str] = {}
    with tenant_scope(system):
        async with in_transaction():
            gm = await create_user("gm@bench.test", "总经理", PASSWORD, ["general_manager"], "hq")
            small = await Record.create(
                form_id="application",
                form_version=version,
                number="GX-2026-00002",
                status="submitted",
                data=DATA,
                created_by=gm.id,
            )
            for name, source in (("long", record), ("small", small)):
                made = await projects.create_from_record(  # the data here was never sealed
                    bundle.tenant, form, mark_open(source), user=gm, keys=services.keys
                )
                ids[name] = str(made.id)
    now = dt.datetime.now(dt.UTC)
    actor = tickets.Actor("staff", gm.id)
    with tenant_scope(TenantContext(tenant_id, "bench", Principal("user", str(gm.id), "gm"))):
        async with in_transaction():
            for name, events in (("long", PAGE_EVENTS), ("small", ONE_PAGE)):
                project = await Project.get(id=ids[name])
                body = {"subject": "放款进度咨询", "category": "consult", "body": "何时放款？"}
                opened = await tickets.open_ticket(bundle.tenant, project, actor, body, now=now)
                # The record's own events, the project's and the ticket's are there already.
                for n in range(events - 4):
                    text = f"第{n}次跟进"
                    await tickets.reply(opened.ticket.id, actor, text, internal=True, now=now)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        signed = await client.post(
            "/t/bench/api/session", json={"email": "gm@bench.test", "password": PASSWORD}
        )
        assert signed.status_code == 200, signed.text
        timeline = await client.get(f"/t/bench/api/projects/{ids['long']}/timeline?limit=200")
        assert timeline.status_code == 200 and len(timeline.json()["items"]) == 200
        samples: dict[str, list[float]] = {"long": [], "small": []}
        for name in ("long", "small"):  # warm up
            assert (await client.get(f"/t/bench/projects/{ids[name]}")).status_code == 200
        for _ in range(max(count, 5)):
            for name in ("small", "long"):
                started = time.perf_counter()
                answer = await client.get(f"/t/bench/projects/{ids[name]}")
                samples[name].append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
    small_page = summary(f"project page, {ONE_PAGE} events", samples["small"])
    long_page = summary(f"project page, {PAGE_EVENTS} events", samples["long"])
    ratio = long_page["p50"] / small_page["p50"]
    print(f"ratio: {ratio:.2f}x the one-page history's page (goal <= {PAGE_GOAL_RATIO}x)")
    return [
        {
            "bench": BENCH,
            "metric": "project_page_500_events_p50_ms",
            "value": round(long_page["p50"], 1),
            "goal": None,
            "baseline": round(small_page["p50"], 1),
            "unit": "ms",
        },
        {
            "bench": BENCH,
            "metric": "project_page_ratio_vs_one_page_history",
            "value": round(ratio, 2),
            "goal": f"<= {PAGE_GOAL_RATIO}",
            "baseline": round(small_page["p50"], 1),
            "unit": "x",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 contracts each, under a minute")
    args = parser.parse_args()
    print_header(BENCH, args.quick)
    for result in asyncio.run(run(3 if args.quick else 20)):
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
