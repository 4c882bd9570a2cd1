"""Default: the bank's overdue notice, its cure, and compensation (代偿).

Each fact is recorded together with its event, in the request's transaction: the
transition goes first (``service.apply_event``: row lock, version, plan, approval,
``project.transition``), then the fact is checked against the project and written with
its own audit event. Any refusal raises and rolls everything back, the transition too.
The events are fired only from here (``effects.OWN_ROUTES``), so a project is never
逾期 without its notice or 已代偿 without its payment.

The amounts: a notice states the overdue principal and interest the guarantor is obliged
for (the guarantor's part, after the bank's risk share); the principal cannot exceed the
guarantor's liability: its share (1 − the bank's risk share) of the loan's outstanding
principal (``loan.liability``), or of the guaranteed amount when no disbursement is
recorded. A compensation pays at most the obliged amount of the open notice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from danbao.audit import record_event
from danbao.db.models import Project, ProjectCompensation, ProjectOverdue, User

from . import loan, service
from .attributes import CENT
from .inputs import Reader

VIA = {"mark_overdue": "overdue", "cure_overdue": "overdue", "compensate": "compensation"}


class DefaultRefused(service.ProjectRefused):
    """A fact that contradicts the project's records; ``code`` names it (``error.project_<code>``)
    and ``pointer`` the offending input."""

    def __init__(self, code: str, pointer: str = "", **params: Any) -> None:
        self.code, self.pointer = code, pointer
        self.params = {k: str(v) for k, v in params.items()}
        if pointer:
            self.params.setdefault("field", pointer.lstrip("/"))
        super().__init__(f"{code} {pointer} {self.params}")


@dataclass(frozen=True)
class OverdueNotice:
    """The bank's notice: its reference and date, days overdue, principal and interest."""

    notice_ref: str
    notice_date: date
    days_overdue: int
    principal: Decimal
    interest: Decimal

    @property
    def obliged(self) -> Decimal:
        return self.principal + self.interest


@dataclass(frozen=True)
class Payment:
    amount: Decimal
    paid_on: date
    bank_receipt_ref: str


def read_notice(read: Reader) -> OverdueNotice:
    ref = read.text("notice_ref", required=True)
    on = read.day("notice_date")
    days = read.integer("days_overdue", high=36_500)
    principal = read.money("principal", zero=True)
    interest = read.money("interest", zero=True)
    read.done()
    assert ref and on and days and principal is not None and interest is not None
    if principal + interest <= 0:
        read.fault("principal", "principal and interest cannot both be 0")
        read.done()
    return OverdueNotice(ref, on, days, principal, interest)


def read_payment(read: Reader) -> Payment:
    amount = read.money("amount")
    paid_on = read.day("paid_on")
    ref = read.text("bank_receipt_ref", required=True)
    read.done()
    assert amount and paid_on and ref
    return Payment(amount, paid_on, ref)


def liability(project: Project) -> Decimal:
    """What the guarantor answers for: the guaranteed amount less the bank's risk share."""
    share = Decimal(1) - Decimal(project.bank_risk_share)
    return (Decimal(project.amount) * share).quantize(CENT, rounding=ROUND_HALF_UP)


async def liability_now(project: Project) -> Decimal:
    """The bound of an overdue principal: the guarantor's share of the loan's outstanding
    principal once the bank's disbursement is recorded (``loan.liability``), else of the
    guaranteed amount."""
    if await loan.loan_of(project) is not None:
        return await loan.liability(project)
    return liability(project)


async def open_notice(project: Project) -> ProjectOverdue | None:
    return (
        await ProjectOverdue.filter(project_id=project.id, status="open")
        .select_for_update()
        .first()
    )


async def register_overdue(
    project_id: uuid.UUID,
    notice: OverdueNotice,
    *,
    expected_version: int,
    user: User,
    reason: str = "",
    visible: Any = None,
) -> tuple[Project, ProjectOverdue] | None:
    """Record the bank's notice and move the project to 逾期 (None: no such project)."""
    outcome = await service.apply_event(
        project_id,
        "mark_overdue",
        expected_version=expected_version,
        user=user,
        reason=reason,
        visible=visible,
        via=VIA["mark_overdue"],
    )
    if outcome is None:
        return None
    project = outcome.project
    cap = await liability_now(project)
    if notice.principal > cap:
        raise DefaultRefused(
            "overdue_exceeds_liability", "/principal", principal=notice.principal, liability=cap
        )
    row = await ProjectOverdue.create(
        project_id=project.id,
        notice_ref=notice.notice_ref,
        notice_date=notice.notice_date,
        overdue_since=notice.notice_date - timedelta(days=notice.days_overdue),
        days_overdue=notice.days_overdue,
        principal=notice.principal,
        interest=notice.interest,
        obliged=notice.obliged,
        created_by=user.id,
    )
    await record_event(
        "project.overdue_registered",
        "project",
        str(project.id),
        {
            "overdue_id": str(row.id),
            "notice_ref": notice.notice_ref,
            "notice_date": notice.notice_date.isoformat(),
            "days_overdue": notice.days_overdue,
            "principal": str(notice.principal),
            "interest": str(notice.interest),
            "obliged": str(notice.obliged),
            "actor": str(user.id),
        },
    )
    return project, row


async def cure_overdue(
    project_id: uuid.UUID,
    cured_on: date,
    *,
    expected_version: int,
    user: User,
    reason: str = "",
    visible: Any = None,
) -> tuple[Project, ProjectOverdue] | None:
    """The borrower paid the bank: close the open notice and move back to 在保."""
    outcome = await service.apply_event(
        project_id,
        "cure_overdue",
        expected_version=expected_version,
        user=user,
        reason=reason,
        visible=visible,
        via=VIA["cure_overdue"],
    )
    if outcome is None:
        return None
    project = outcome.project
    notice = await open_notice(project)
    if notice is None:  # an overdue state from before notices were recorded
        raise DefaultRefused("overdue_missing")
    if cured_on < notice.overdue_since:
        raise DefaultRefused("date_before", "/cured_on", since=notice.overdue_since)
    await _close(notice, "cured", cured_on=cured_on)
    await record_event(
        "project.overdue_cured",
        "project",
        str(project.id),
        {"overdue_id": str(notice.id), "cured_on": cured_on.isoformat(), "actor": str(user.id)},
    )
    return project, notice


async def compensate(
    project_id: uuid.UUID,
    payment: Payment,
    *,
    approval_id: uuid.UUID | None,
    expected_version: int,
    user: User,
    reason: str = "",
    visible: Any = None,
) -> tuple[Project, ProjectCompensation] | None:
    """Record the guarantor's payment to the bank, carried by the approval that decided
    it, and move the project to 已代偿. Refused without an approved approval of the
    project's record finished in 逾期 (``approval_check``), or above the obliged amount."""
    outcome = await service.apply_event(
        project_id,
        "compensate",
        expected_version=expected_version,
        user=user,
        reason=reason,
        approval_id=approval_id,
        visible=visible,
        via=VIA["compensate"],
    )
    if outcome is None:
        return None
    assert approval_id is not None  # apply_event refuses the event without one
    project = outcome.project
    notice = await open_notice(project)
    if notice is None:
        raise DefaultRefused("overdue_missing")
    obliged = Decimal(notice.obliged)
    if payment.amount > obliged:
        raise DefaultRefused(
            "compensation_exceeds", "/amount", amount=payment.amount, obliged=obliged
        )
    if payment.paid_on < notice.overdue_since:
        raise DefaultRefused("date_before", "/paid_on", since=notice.overdue_since)
    row = await ProjectCompensation.create(
        project_id=project.id,
        overdue_id=notice.id,
        approval_id=approval_id,
        amount=payment.amount,
        paid_on=payment.paid_on,
        bank_receipt_ref=payment.bank_receipt_ref,
        created_by=user.id,
    )
    await _close(notice, "compensated")
    await record_event(
        "project.compensated",
        "project",
        str(project.id),
        {
            "compensation_id": str(row.id),
            "overdue_id": str(notice.id),
            "amount": str(payment.amount),
            "obliged": str(obliged),
            "paid_on": payment.paid_on.isoformat(),
            "bank_receipt_ref": payment.bank_receipt_ref,
            "approval_id": str(approval_id),
            "actor": str(user.id),
        },
    )
    return project, row


async def _close(notice: ProjectOverdue, status: str, *, cured_on: date | None = None) -> None:
    now = datetime.now(UTC)
    await ProjectOverdue.filter(id=notice.id, status="open").update(
        status=status, cured_on=cured_on, closed_at=now
    )
    notice.status, notice.cured_on, notice.closed_at = status, cured_on, now
