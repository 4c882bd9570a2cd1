"""Repayment receipts (还款回执) for applicants: what the guarantor recorded of a payment,
as an A4 PDF from a fixed platform template (no tenant template: nothing a tenant writes
runs here). The amounts are the recorded ones, in figures and Chinese capitals."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from danbao.db.models import LoanRepayment, Project, ProjectLoan
from danbao.documents.pdf import html_to_pdf_async
from danbao.forms.money import format_yuan, to_chinese_capitals

CHINA = ZoneInfo("Asia/Shanghai")


async def loan_and_repayments(
    project: Project,
) -> tuple[ProjectLoan | None, list[LoanRepayment]]:
    loan = await ProjectLoan.filter(project_id=project.id).first()
    if loan is None:
        return None, []
    return loan, await LoanRepayment.filter(project_id=project.id).order_by(
        "-paid_on", "-created_at"
    )


def facts(project: Project, repayment: LoanRepayment) -> dict[str, Any]:
    total = repayment.principal + repayment.interest
    return {
        "project": project.number,
        "paid_on": repayment.paid_on.isoformat(),
        "principal": format_yuan(repayment.principal),
        "interest": format_yuan(repayment.interest),
        "total": format_yuan(total),
        "total_capitals": to_chinese_capitals(total),
        "outstanding": format_yuan(repayment.outstanding_after),
        "early": repayment.early,
        "reference": repayment.reference,
        "recorded_at": repayment.created_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
        "printed_at": datetime.now(CHINA).strftime("%Y-%m-%d %H:%M"),
    }


async def receipt_pdf(html: str) -> bytes:
    return await html_to_pdf_async(html)
