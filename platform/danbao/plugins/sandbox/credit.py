"""A sandbox credit bureau: PBOC-shaped personal and enterprise reports."""

from __future__ import annotations

from danbao.plugins import results as r
from danbao.plugins.errors import PermanentError
from danbao.plugins.sdk import Label, Plugin, PluginKind

from . import SOURCE, has, now_iso, seed


def _yuan(n: int) -> str:
    return f"{n}.00"


class SandboxCreditBureau(Plugin):
    id = "sandbox.credit"
    kind = PluginKind.CREDIT_BUREAU
    title = Label("征信查询（沙箱）", "Credit bureau (sandbox)")
    sandbox = True

    async def credit_report(self, query: r.CreditQuery) -> r.CreditReport:
        subject = query.id_no if query.subject_type == "person" else query.uscc
        if not subject:
            raise PermanentError(f"a {query.subject_type} query needs its certificate number")
        n = seed(query.subject_type, subject)
        overdue = has(query.name, "逾期")
        loans = 1 + n % 4
        accounts = tuple(
            r.CreditAccount(
                type="loan",
                institution=("中国工商银行", "中国建设银行", "成都农商银行", "绵阳市商业银行")[
                    (n >> (4 * i)) % 4
                ],
                opened=f"{2019 + (n >> i) % 5}-0{1 + (n >> i) % 9}-15",
                limit_or_amount=_yuan(((n >> (3 * i)) % 50 + 10) * 10_000),
                balance=_yuan(((n >> (3 * i)) % 40 + 5) * 10_000),
                five_level_class="次级" if overdue and i == 0 else "正常",
                overdue_amount=_yuan(86_000) if overdue and i == 0 else "0.00",
                status="overdue" if overdue and i == 0 else "active",
                repayment_24m=("N" * 20 + "1234") if overdue and i == 0 else "N" * 24,
            )
            for i in range(loans)
        )
        public = (
            (r.PublicRecord("enforcement", "成都市中级人民法院", "2025-06-30", "1200000.00"),)
            if has(query.name, "失信") or has(query.name, "被执行")
            else ()
        )
        balance = sum(int(a.balance.split(".")[0]) for a in accounts)
        summary = r.CreditSummary(
            accounts=loans,
            overdue_accounts=1 if overdue else 0,
            max_overdue_months=4 if overdue else 0,
            total_balance=_yuan(balance),
            guarantee_liability=_yuan((n % 7) * 100_000),
            queries_3m=n % 5,
            queries_6m=n % 5 + n % 3,
        )
        return r.CreditReport(
            report_no=f"SBX{n % 10**12:012d}",
            report_time=now_iso(),
            source=SOURCE,
            summary=summary,
            score=None if query.subject_type == "enterprise" else 520 + n % 330,
            accounts=accounts,
            public_records=public,
            queries=(r.QueryRecord("2026-09-01", "成都农商银行", "贷款审批"),),
        )
