"""Recovery (追偿) after compensation: actions and the amounts they bring back.

An action is a demand (催收), a lawsuit (诉讼), an enforcement (执行) or the disposal of
collateral (处置抵质押物); it is recorded while the project is 追偿中 (``start_recovery``
moves it there), runs ``open`` and is ``closed`` with an outcome. Each amount it recovers
is a dated receipt. The project's receipts never sum to more than its compensation: every
write here first locks the project row, so two receipts recorded at once queue, and the
second sees the first when it checks the sum.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from danbao.audit import record_event
from danbao.db.models import (
    Project,
    ProjectCompensation,
    ProjectRecovery,
    ProjectRecoveryReceipt,
    User,
)

from .default import DefaultRefused
from .inputs import Reader
from .states import State

KINDS = ("demand", "litigation", "enforcement", "collateral_disposal")


@dataclass(frozen=True)
class Action:
    kind: str
    started_on: date
    reference: str | None
    note: str


@dataclass(frozen=True)
class Receipt:
    amount: Decimal
    received_on: date
    reference: str | None


def read_action(read: Reader) -> Action:
    kind = read.choice("kind", KINDS)
    started_on = read.day("started_on")
    reference = read.text("reference")
    note = read.text("note", limit=1000) or ""
    read.done()
    assert kind and started_on
    return Action(kind, started_on, reference, note)


def read_receipt(read: Reader) -> Receipt:
    amount = read.money("amount")
    received_on = read.day("received_on")
    reference = read.text("reference")
    read.done()
    assert amount and received_on
    return Receipt(amount, received_on, reference)


async def locked(project_id: uuid.UUID, visible: Any = None) -> Project | None:
    """The project, its row locked for the rest of the transaction (None: not visible)."""
    rows = visible if visible is not None else Project.all()
    found: Project | None = await rows.filter(id=project_id).select_for_update().first()
    return found


async def recovered_total(project_id: uuid.UUID) -> Decimal:
    amounts = await ProjectRecoveryReceipt.filter(project_id=project_id).values_list(
        "amount", flat=True
    )
    return sum((Decimal(a) for a in amounts), Decimal(0))


def _recovering(project: Project) -> None:
    if project.state != State.RECOVERING:
        raise DefaultRefused("recovery_state", state=project.state)


async def _compensation(project: Project) -> ProjectCompensation:
    found = await ProjectCompensation.filter(project_id=project.id).first()
    if found is None:  # 追偿中 without a payment: a state from before payments were recorded
        raise DefaultRefused("compensation_missing")
    return found


async def start_action(
    project_id: uuid.UUID, action: Action, *, user: User, visible: Any = None
) -> tuple[Project, ProjectRecovery] | None:
    project = await locked(project_id, visible)
    if project is None:
        return None
    _recovering(project)
    paid = await _compensation(project)
    if action.started_on < paid.paid_on:
        raise DefaultRefused("date_before", "/started_on", since=paid.paid_on)
    row = await ProjectRecovery.create(
        project_id=project.id,
        kind=action.kind,
        started_on=action.started_on,
        reference=action.reference,
        note=action.note,
        created_by=user.id,
    )
    await record_event(
        "project.recovery_started",
        "project",
        str(project.id),
        {
            "recovery_id": str(row.id),
            "kind": action.kind,
            "started_on": action.started_on.isoformat(),
            "reference": action.reference,
            "actor": str(user.id),
        },
    )
    return project, row


async def _open_action(project: Project, recovery_id: uuid.UUID) -> ProjectRecovery | None:
    found: ProjectRecovery | None = (
        await ProjectRecovery.filter(project_id=project.id, id=recovery_id)
        .select_for_update()
        .first()
    )
    if found is not None and found.status != "open":
        raise DefaultRefused("recovery_action_closed", closed_on=found.closed_on)
    return found


async def record_receipt(
    project_id: uuid.UUID,
    recovery_id: uuid.UUID,
    receipt: Receipt,
    *,
    user: User,
    visible: Any = None,
) -> tuple[Project, ProjectRecoveryReceipt] | None:
    """Record an amount recovered by an open action (None: no such project or action).
    Refused (``recovery_exceeds``) when all receipts would exceed the compensation."""
    project = await locked(project_id, visible)
    if project is None:
        return None
    action = await _open_action(project, recovery_id)
    if action is None:
        return None
    _recovering(project)
    if receipt.received_on < action.started_on:
        raise DefaultRefused("date_before", "/received_on", since=action.started_on)
    compensated = Decimal((await _compensation(project)).amount)
    recovered = await recovered_total(project.id)
    if recovered + receipt.amount > compensated:
        raise DefaultRefused(
            "recovery_exceeds",
            "/amount",
            amount=receipt.amount,
            compensated=compensated,
            recovered=recovered,
            recoverable=compensated - recovered,
        )
    row = await ProjectRecoveryReceipt.create(
        project_id=project.id,
        recovery_id=action.id,
        amount=receipt.amount,
        received_on=receipt.received_on,
        reference=receipt.reference,
        created_by=user.id,
    )
    await record_event(
        "project.recovery_received",
        "project",
        str(project.id),
        {
            "recovery_id": str(action.id),
            "receipt_id": str(row.id),
            "amount": str(receipt.amount),
            "received_on": receipt.received_on.isoformat(),
            "reference": receipt.reference,
            "recovered": str(recovered + receipt.amount),
            "compensated": str(compensated),
            "actor": str(user.id),
        },
    )
    return project, row


async def close_action(
    project_id: uuid.UUID,
    recovery_id: uuid.UUID,
    closed_on: date,
    outcome: str,
    *,
    user: User,
    visible: Any = None,
) -> tuple[Project, ProjectRecovery] | None:
    """Close an open action with its outcome (None: no such project or action)."""
    project = await locked(project_id, visible)
    if project is None:
        return None
    action = await _open_action(project, recovery_id)
    if action is None:
        return None
    if closed_on < action.started_on:
        raise DefaultRefused("date_before", "/closed_on", since=action.started_on)
    await ProjectRecovery.filter(id=action.id, status="open").update(
        status="closed", closed_on=closed_on, outcome=outcome, closed_by=user.id
    )
    action.status, action.closed_on, action.outcome = "closed", closed_on, outcome
    action.closed_by = user.id
    await record_event(
        "project.recovery_closed",
        "project",
        str(project.id),
        {
            "recovery_id": str(action.id),
            "closed_on": closed_on.isoformat(),
            "outcome": outcome,
            "actor": str(user.id),
        },
    )
    return project, action
