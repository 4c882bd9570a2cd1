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

The project page's latency with 500 timeline events comes with the project page.
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

from asgi_lifespan import LifespanManager
from tortoise.transactions import in_transaction

from benchlib import bench_settings, drop_database, percentile, print_header, recreate_database
from danbao.config import REPO_ROOT
from danbao.db.models import Record, User
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.definitions import load_bundle
from danbao.documents.compose import Facts, compose_html
from danbao.documents.issuing import issue, project_facts
from danbao.documents.pdf import html_to_pdf
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal
from danbao.plugins.tenant_config import configure
from danbao.provisioning import create_tenant
from danbao.tenancy.context import Principal, TenantContext, tenant_scope
from danbao.web.app import create_app

BENCH = "lifecycle"
METRIC = "contract_sign_median_ms"
GOAL_RATIO = 1.5  # our steps may add at most half of what WeasyPrint alone takes
DB_NAME = "danbao_bench_lifecycle"
REDIS_DB = 10  # tenants.py takes 4, plugins.py 7, forms.py 8, authz.py 9
BUNDLE = REPO_ROOT / "tenants" / "gxdb"
GUARANTOR = "四川广信融资担保集团有限公司"
DATA: dict[str, Any] = {
    "branch": "chengdu",
    "business_type": "working_capital",
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
    baseline = summary("WeasyPrint alone (same HTML)", samples["baseline"])
    path = summary("issue: render, PDF, sign, store, row", samples["ours"])
    ratio = path["p50"] / baseline["p50"]
    print(f"ratio: {ratio:.2f}x WeasyPrint alone (goal <= {GOAL_RATIO}x)")
    return [
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 contracts each, under a minute")
    args = parser.parse_args()
    print_header(BENCH, args.quick)
    for result in asyncio.run(run(3 if args.quick else 20)):
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
