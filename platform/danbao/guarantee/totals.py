"""Running totals of default and recovery, per project and per tenant, that reconcile.

Computed from the records, never kept as counters: compensated (代偿, the payment),
recovered (收回, the receipts), lost (损失, the write-off), and what is still recoverable
(代偿余额 = 累计代偿 − 累计损失 − 累计收回, the regulator's formula), plus what is owed
and not yet paid (逾期未代偿, the open overdue notices). ``compensated = recovered + lost
+ outstanding`` holds by construction; what the check proves is that the records agree
with each other and with the project's state: receipts never above the payment, the
write-off's snapshot equal to today's figures (nothing recovered after it), nothing
left outstanding once written off, a payment exactly when the state says 已代偿 or later.
Each disagreement is named in ``problems``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from danbao.db.models import (
    Project,
    ProjectCompensation,
    ProjectOverdue,
    ProjectRecoveryReceipt,
    ProjectWriteOff,
)

from .states import State

ZERO = Decimal("0.00")
PAID_STATES = frozenset(
    {State.COMPENSATED, State.RECOVERING, State.RECOVERY_CLOSED, State.WRITTEN_OFF}
)
RATE = Decimal("0.000001")


@dataclass(frozen=True)
class Totals:
    obliged_unpaid: Decimal = ZERO
    compensated: Decimal = ZERO
    recovered: Decimal = ZERO
    lost: Decimal = ZERO
    problems: tuple[str, ...] = ()

    @property
    def outstanding(self) -> Decimal:
        """代偿余额: compensated, less recovered, less lost."""
        return self.compensated - self.recovered - self.lost

    @property
    def reconciled(self) -> bool:
        return not self.problems

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.obliged_unpaid + other.obliged_unpaid,
            self.compensated + other.compensated,
            self.recovered + other.recovered,
            self.lost + other.lost,
            self.problems + other.problems,
        )

    def as_json(self) -> dict[str, Any]:
        rate = None
        if self.compensated:
            rate = str((self.recovered / self.compensated).quantize(RATE))
        return {
            "obliged_unpaid": str(self.obliged_unpaid),
            "compensated": str(self.compensated),
            "recovered": str(self.recovered),
            "lost": str(self.lost),
            "outstanding": str(self.outstanding),
            "recovery_rate": rate,
            "reconciled": self.reconciled,
            "problems": list(self.problems),
        }


@dataclass
class Facts:
    """One project's records, as loaded."""

    state: str
    obliged: list[Decimal] = field(default_factory=list)
    compensated: Decimal | None = None
    receipts: list[Decimal] = field(default_factory=list)
    write_off: tuple[Decimal, Decimal, Decimal] | None = None  # compensated, recovered, loss


def reconcile(facts: Facts) -> Totals:
    state = State(facts.state)
    compensated = facts.compensated or ZERO
    recovered = sum(facts.receipts, ZERO)
    lost = facts.write_off[2] if facts.write_off else ZERO
    problems = []
    if recovered > compensated:
        problems.append("recovered_exceeds_compensated")
    if facts.write_off is not None:
        snap_compensated, snap_recovered, loss = facts.write_off
        if loss != snap_compensated - snap_recovered:
            problems.append("write_off_loss_mismatch")
        if (snap_compensated, snap_recovered) != (compensated, recovered):
            problems.append("changed_after_write_off")
    if (state is State.WRITTEN_OFF) != (facts.write_off is not None):
        problems.append("write_off_state_mismatch")
    if state is State.WRITTEN_OFF and compensated - recovered - lost != 0:
        problems.append("balance_after_write_off")
    if (state in PAID_STATES) != (facts.compensated is not None):
        problems.append("compensation_state_mismatch")
    if (state is State.OVERDUE) != bool(facts.obliged):
        problems.append("overdue_state_mismatch")
    return Totals(sum(facts.obliged, ZERO), compensated, recovered, lost, tuple(problems))


async def _load(project_ids: Any, states: dict[Any, str]) -> dict[Any, Facts]:
    """The records of the projects ``project_ids`` (a list or a subquery) selects."""
    facts = {pid: Facts(state) for pid, state in states.items()}
    notices = await ProjectOverdue.filter(project_id__in=project_ids, status="open").values_list(
        "project_id", "obliged"
    )
    for pid, obliged in notices:
        facts[pid].obliged.append(Decimal(obliged))
    paid = await ProjectCompensation.filter(project_id__in=project_ids).values_list(
        "project_id", "amount"
    )
    for pid, amount in paid:
        facts[pid].compensated = Decimal(amount)
    receipts = await ProjectRecoveryReceipt.filter(project_id__in=project_ids).values_list(
        "project_id", "amount"
    )
    for pid, amount in receipts:
        facts[pid].receipts.append(Decimal(amount))
    losses = await ProjectWriteOff.filter(project_id__in=project_ids).values_list(
        "project_id", "compensated", "recovered", "loss"
    )
    for pid, compensated, recovered, loss in losses:
        facts[pid].write_off = (Decimal(compensated), Decimal(recovered), Decimal(loss))
    return facts


async def project_totals(project: Project) -> Totals:
    facts = await _load([project.id], {project.id: project.state})
    return reconcile(facts[project.id])


@dataclass(frozen=True)
class TenantTotals:
    """The sum over a set of projects, this year's flows, and which ones disagree."""

    totals: Totals
    year: int
    this_year: dict[str, Decimal]
    counts: dict[str, int]
    unreconciled: list[tuple[str, tuple[str, ...]]]

    def as_json(self) -> dict[str, Any]:
        summed = self.totals.as_json()
        summed["problems"] = sorted(set(self.totals.problems))
        return {
            "totals": summed,
            "year": self.year,
            "this_year": {k: str(v) for k, v in self.this_year.items()},
            "projects": self.counts,
            "unreconciled": [{"project_id": p, "problems": list(w)} for p, w in self.unreconciled],
        }


async def tenant_totals(projects: QuerySet[Project], year: int) -> TenantTotals:
    """Totals over ``projects`` (the caller's visible ones), each reconciled on its own."""
    states = dict(await projects.values_list("id", "state"))
    ids = Subquery(projects.values("id"))
    facts = await _load(ids, states) if states else {}
    per_project = {pid: reconcile(f) for pid, f in facts.items()}
    totals = sum(per_project.values(), Totals())
    counts = {
        "overdue": _count(f.obliged != [] for f in facts.values()),
        "compensated": _count(f.compensated is not None for f in facts.values()),
        "written_off": _count(f.write_off is not None for f in facts.values()),
    }
    return TenantTotals(
        totals,
        year,
        await _this_year(ids, year) if states else dict.fromkeys(_FLOWS, ZERO),
        counts,
        [(str(pid), t.problems) for pid, t in per_project.items() if t.problems],
    )


def _count(flags: Iterable[bool]) -> int:
    return sum(1 for f in flags if f)


_FLOWS = ("compensated", "recovered", "lost")


async def _this_year(ids: Any, year: int) -> dict[str, Decimal]:
    """本年累计: what was paid, recovered and written off with a date in ``year``."""
    window: dict[str, tuple[Any, str, str]] = {
        "compensated": (ProjectCompensation, "paid_on", "amount"),
        "recovered": (ProjectRecoveryReceipt, "received_on", "amount"),
        "lost": (ProjectWriteOff, "written_off_on", "loss"),
    }
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for name, (model, day, amount) in window.items():
        within = {f"{day}__gte": date(year, 1, 1), f"{day}__lte": date(year, 12, 31)}
        rows = await model.filter(project_id__in=ids, **within).values_list(amount, flat=True)
        sums[name] = sum((Decimal(a) for a in rows), ZERO)
    return dict(sums)
