"""The guaranteed loan once the bank disburses it (放款): the repayment schedule,
repayments and early repayment, the outstanding balance (在保余额) and the guarantor's
share of it, overdue days, and the bank's release notice (解保通知).

Money is exact: Decimal yuan, to the fen, never a float. ``outstanding(project)`` is the
principal still owed to the bank (0 before a disbursement); other modules (the default
side: overdue, compensation) read it, so its name and meaning stay put.

Schedules are monthly, in three shapes:
- ``equal_principal`` (等额本金): the principal in equal parts (the last takes the fen
  left over), interest on the balance;
- ``equal_installment`` (等额本息): equal payments of principal and interest (needs the
  rate); the last line takes the balance left, so principal sums exactly;
- ``bullet`` (按月付息、到期还本): interest monthly, all principal on the last date.
Interest is the bank's business and shown for reference; the guarantee follows principal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from danbao.audit import record_event
from danbao.db.models import LoanInstallment, LoanRepayment, Project, ProjectLoan, User

from . import aftercare
from .service import apply_event
from .states import State
from .values import FEN, Fault, Invalid, Reader, add_months

METHODS = ("equal_principal", "bullet", "equal_installment")
LIVE = {State.ACTIVE, State.WATCHLIST, State.OVERDUE}
"""The states in which the borrower repays (the loan runs)."""
ZERO = Decimal("0.00")


class LoanRefused(Exception):
    """Base of the refusals; ``code`` names the error, ``params`` fill its message."""

    code = "loan_refused"

    def __init__(self, message: str, **params: Any) -> None:
        self.params = params
        super().__init__(message)


class NotDisbursed(LoanRefused):
    code = "loan_not_disbursed"


class LoanNotLive(LoanRefused):
    code = "loan_not_live"


class ExceedsOutstanding(LoanRefused):
    """A repayment larger than the principal still owed: refused, nothing changes."""

    code = "repayment_exceeds_outstanding"


@dataclass(frozen=True)
class Line:
    seq: int
    due_on: dt.date
    principal: Decimal
    interest: Decimal


def _fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def schedule(
    amount: Decimal, method: str, periods: int, start: dt.date, annual_rate: Decimal | None
) -> list[Line]:
    """The monthly schedule of ``amount`` from ``start`` (the disbursement date): line k
    falls due ``k`` months after it. Principal sums to ``amount`` exactly."""
    if method not in METHODS or periods < 1 or amount <= 0:
        raise ValueError(f"no schedule for {method} over {periods} periods of {amount}")
    rate = (annual_rate or Decimal(0)) / 12
    lines: list[Line] = []
    balance = amount
    if method == "equal_installment" and rate > 0:
        with localcontext() as ctx:
            ctx.prec = 40
            growth = (1 + rate) ** periods
            payment = _fen(amount * rate * growth / (growth - 1))
        for seq in range(1, periods + 1):
            interest = _fen(balance * rate)
            principal = balance if seq == periods else min(payment - interest, balance)
            lines.append(Line(seq, add_months(start, seq), principal, interest))
            balance -= principal
        return lines
    if method == "bullet":
        for seq in range(1, periods + 1):
            principal = amount if seq == periods else ZERO
            lines.append(Line(seq, add_months(start, seq), principal, _fen(amount * rate)))
        return lines
    # equal_principal, and equal_installment without interest (the same thing then)
    part = (amount / periods).quantize(FEN, rounding=ROUND_DOWN)
    for seq in range(1, periods + 1):
        principal = balance if seq == periods else part
        lines.append(Line(seq, add_months(start, seq), principal, _fen(balance * rate)))
        balance -= principal
    return lines


async def loan_of(project: Project, *, for_update: bool = False) -> ProjectLoan | None:
    rows = ProjectLoan.filter(project_id=project.id)
    return await (rows.select_for_update() if for_update else rows).first()


async def outstanding(project: Project) -> Decimal:
    """The principal still owed to the bank on the project's loan (在保余额 before the
    bank's risk share); 0 when nothing was disbursed. Stable name: the default side
    (overdue, compensation) reads it."""
    loan = await loan_of(project)
    return ZERO if loan is None else Decimal(loan.principal_outstanding)


def guarantor_share(project: Project, balance: Decimal) -> Decimal:
    """The part of ``balance`` the guarantor carries: the bank keeps ``bank_risk_share``."""
    return _fen(balance * (Decimal(1) - Decimal(project.bank_risk_share)))


async def liability(project: Project) -> Decimal:
    """The guarantor's liability on the loan now: outstanding × (1 − bank risk share)."""
    return guarantor_share(project, await outstanding(project))


def read_disbursement(project: Project, body: dict[str, Any]) -> dict[str, Any]:
    """The disbursement's values from a request body; raises values.Invalid by pointer."""
    reader = Reader(body)
    reader.unknown(
        {"version", "disbursed_on", "amount", "bank_reference", "method", "term_months"}
        | {"annual_rate", "reason"}
    )
    values: dict[str, Any] = {
        "version": reader.integer("version", 1, 2**31 - 1),
        "disbursed_on": reader.date("disbursed_on"),
        "amount": reader.money("amount", positive=True),
        "bank_reference": reader.text("bank_reference", max_length=100),
        "method": reader.choice("method", METHODS),
        "periods": reader.integer("term_months", 1, 360, required=project.term_months is None)
        or project.term_months,
        "annual_rate": reader.ratio("annual_rate", required=False),
    }
    amount = values["amount"]
    if amount is not None and amount > Decimal(project.amount):
        reader.fault("amount", f"more than the guaranteed amount {project.amount}")
    if values["method"] == "equal_installment" and values["annual_rate"] is None:
        reader.fault("annual_rate", "equal installments (等额本息) need the loan's annual rate")
    reader.check()
    return values


async def disburse(
    project: Project, values: dict[str, Any], user: User, rules: list[dict[str, Any]]
) -> ProjectLoan | None:
    """Record the bank's disbursement and its schedule, firing ``confirm_disbursement``
    (已出函 → 在保), and generate the post-loan tasks of the tenant's ``rules``, all in
    the same transaction; None when the project is not there."""
    moved = await apply_event(
        project.id,
        "confirm_disbursement",
        expected_version=values["version"],
        user=user,
        reason=f"放款 {values['bank_reference']}",
        via="loan",
    )
    if moved is None:
        return None
    lines = schedule(
        values["amount"],
        values["method"],
        values["periods"],
        values["disbursed_on"],
        values["annual_rate"],
    )
    loan = await ProjectLoan.create(
        project_id=project.id,
        disbursed_on=values["disbursed_on"],
        amount=values["amount"],
        bank_reference=values["bank_reference"],
        method=values["method"],
        annual_rate=values["annual_rate"],
        periods=values["periods"],
        principal_outstanding=values["amount"],
        created_by=user.id,
    )
    await LoanInstallment.bulk_create(
        [
            LoanInstallment(
                tenant_id=loan.tenant_id,
                project_id=project.id,
                seq=line.seq,
                due_on=line.due_on,
                principal=line.principal,
                interest=line.interest,
            )
            for line in lines
        ]
    )
    await record_event(
        "loan.disbursed",
        "project",
        str(project.id),
        {
            "disbursed_on": loan.disbursed_on.isoformat(),
            "amount": str(loan.amount),
            "bank_reference": loan.bank_reference,
            "method": loan.method,
            "periods": loan.periods,
            "annual_rate": None if loan.annual_rate is None else str(loan.annual_rate),
            "maturity": lines[-1].due_on.isoformat(),
        },
    )
    project.state, project.version = moved.project.state, moved.project.version
    await aftercare.generate(project, loan.disbursed_on, lines[-1].due_on, rules)
    return loan


def read_repayment(body: dict[str, Any]) -> dict[str, Any]:
    reader = Reader(body)
    reader.unknown({"paid_on", "principal", "interest", "reference"})
    values: dict[str, Any] = {
        "paid_on": reader.date("paid_on"),
        "principal": reader.money("principal"),
        "interest": reader.money("interest", required=False) or ZERO,
        "reference": reader.text("reference", required=False, max_length=100) or "",
    }
    if values["principal"] is not None and values["principal"] + values["interest"] == 0:
        reader.fault("principal", "a repayment of nothing")
    reader.check()
    return values


async def repay(project: Project, values: dict[str, Any], user: User) -> LoanRepayment:
    """Record a repayment: its principal settles the schedule's lines in order (a line
    not yet due settled early is an early repayment, 提前还款); the balance moves under
    the loan's row lock. More principal than is outstanding is refused, nothing changes."""
    if State(project.state) not in LIVE:
        raise LoanNotLive(f"the project is {project.state}", state=project.state)
    loan = await loan_of(project, for_update=True)
    if loan is None:
        raise NotDisbursed("no disbursement recorded")
    balance = Decimal(loan.principal_outstanding)
    principal, paid_on = values["principal"], values["paid_on"]
    if paid_on < loan.disbursed_on:
        raise Invalid([Fault("/paid_on", f"before the disbursement ({loan.disbursed_on})")])
    if principal > balance:
        raise ExceedsOutstanding(
            f"repayment {principal} exceeds the outstanding balance {balance}",
            principal=str(principal),
            outstanding=str(balance),
        )
    early = False
    left = principal
    lines = await LoanInstallment.filter(project_id=project.id).order_by("seq").select_for_update()
    for line in lines:
        due = Decimal(line.principal) - Decimal(line.principal_paid)
        if left <= 0:
            break
        if due <= 0:
            continue
        part = min(due, left)
        left -= part
        early = early or line.due_on > paid_on
        line.principal_paid = Decimal(line.principal_paid) + part
        settled = line.principal_paid == Decimal(line.principal)
        await LoanInstallment.filter(id=line.id).update(
            principal_paid=line.principal_paid, settled_on=paid_on if settled else None
        )
    after = balance - principal
    await ProjectLoan.filter(id=loan.id).update(principal_outstanding=after)
    row = await LoanRepayment.create(
        project_id=project.id,
        paid_on=paid_on,
        principal=principal,
        interest=values["interest"],
        early=early,
        reference=values["reference"],
        outstanding_after=after,
        created_by=user.id,
    )
    await record_event(
        "loan.repaid",
        "project",
        str(project.id),
        {
            "repayment_id": str(row.id),
            "paid_on": paid_on.isoformat(),
            "principal": str(principal),
            "interest": str(values["interest"]),
            "early": early,
            "outstanding_after": str(after),
        },
    )
    return row


def overdue_of(lines: list[LoanInstallment], today: dt.date) -> tuple[int, Decimal]:
    """(days since the oldest line fell due unpaid, principal fallen due and unpaid)."""
    late = [
        line
        for line in lines
        if line.due_on < today and Decimal(line.principal_paid) < Decimal(line.principal)
    ]
    if not late:
        return 0, ZERO
    unpaid = sum((Decimal(x.principal) - Decimal(x.principal_paid) for x in late), ZERO)
    return (today - min(x.due_on for x in late)).days, unpaid


async def overdue(project: Project, today: dt.date) -> tuple[int, Decimal]:
    lines = list(await LoanInstallment.filter(project_id=project.id).order_by("seq"))
    return overdue_of(lines, today)


async def statement(project: Project, today: dt.date) -> dict[str, Any] | None:
    """The loan as a page shows it: disbursement, schedule, repayments, balances, overdue
    days; None before a disbursement. ``amount = repaid + outstanding`` always holds."""
    loan = await loan_of(project)
    if loan is None:
        return None
    lines = list(await LoanInstallment.filter(project_id=project.id).order_by("seq"))
    payments = list(
        await LoanRepayment.filter(project_id=project.id).order_by("paid_on", "created_at")
    )
    balance = Decimal(loan.principal_outstanding)
    days, unpaid = overdue_of(lines, today)
    upcoming = next((x for x in lines if Decimal(x.principal_paid) < Decimal(x.principal)), None)
    return {
        "disbursed_on": loan.disbursed_on.isoformat(),
        "amount": str(loan.amount),
        "bank_reference": loan.bank_reference,
        "method": loan.method,
        "annual_rate": None if loan.annual_rate is None else str(loan.annual_rate),
        "periods": loan.periods,
        "maturity": lines[-1].due_on.isoformat() if lines else None,
        "outstanding": str(balance),
        "repaid_principal": str(sum((Decimal(p.principal) for p in payments), ZERO)),
        "repaid_interest": str(sum((Decimal(p.interest) for p in payments), ZERO)),
        "bank_risk_share": str(project.bank_risk_share),
        "guarantor_liability": str(guarantor_share(project, balance)),
        "overdue_days": days,
        "overdue_principal": str(unpaid),
        "next_due": None
        if upcoming is None
        else {
            "due_on": upcoming.due_on.isoformat(),
            "principal": str(Decimal(upcoming.principal) - Decimal(upcoming.principal_paid)),
        },
        "release_notice": loan.release_notice,
        "release_notice_on": loan.release_notice_on.isoformat() if loan.release_notice_on else None,
        "schedule": [
            {
                "seq": x.seq,
                "due_on": x.due_on.isoformat(),
                "principal": str(x.principal),
                "interest": str(x.interest),
                "principal_paid": str(x.principal_paid),
                "settled_on": x.settled_on.isoformat() if x.settled_on else None,
            }
            for x in lines
        ],
        "repayments": [
            {
                "id": str(p.id),
                "paid_on": p.paid_on.isoformat(),
                "principal": str(p.principal),
                "interest": str(p.interest),
                "early": p.early,
                "reference": p.reference,
                "outstanding_after": str(p.outstanding_after),
            }
            for p in payments
        ],
    }


def read_release(body: dict[str, Any]) -> dict[str, Any]:
    reader = Reader(body)
    reader.unknown({"version", "basis", "notice_reference", "notice_on", "reason"})
    values: dict[str, Any] = {
        "version": reader.integer("version", 1, 2**31 - 1),
        "basis": reader.choice("basis", ("repaid", "bank_notice")),
        "reason": reader.text("reason", required=False, max_length=1000) or "",
    }
    if values["basis"] == "bank_notice":
        values["notice_reference"] = reader.text("notice_reference", max_length=100)
        values["notice_on"] = reader.date("notice_on")
    reader.check()
    return values


async def release(project: Project, values: dict[str, Any], user: User) -> Any:
    """解保: on full repayment, or on the bank's release notice (recorded with the loan);
    fires ``release`` (whose effects release the counter-guarantees and letters)."""
    if values["basis"] == "bank_notice":
        loan = await loan_of(project, for_update=True)
        if loan is None:
            raise NotDisbursed("no disbursement recorded")
        await ProjectLoan.filter(id=loan.id).update(
            release_notice=values["notice_reference"], release_notice_on=values["notice_on"]
        )
        await record_event(
            "loan.release_notice",
            "project",
            str(project.id),
            {
                "reference": values["notice_reference"],
                "received_on": values["notice_on"].isoformat(),
                "outstanding": str(loan.principal_outstanding),
            },
        )
    basis = (
        "解保通知 " + values["notice_reference"] if values["basis"] == "bank_notice" else "已结清"
    )
    reason = f"{basis}. {values['reason']}".strip(". ") if values["reason"] else basis
    return await apply_event(
        project.id, "release", expected_version=values["version"], user=user, reason=reason
    )
