"""Loss write-off (损失核销): the compensation proven unrecoverable, with its proof.

The regulator counts as a loss (损失) compensation proven unrecoverable "by judgment,
award plus enforcement order, or other sufficient evidence" (REGULATION.md, monthly
form). So a write-off lists its evidence, each item a document reference (kind, number,
date, issuer, optionally an attachment of the project's application), and the items
must make one of the three bases:

- ``judgment``: a court judgment or ruling (判决书 / 裁定书, such as a ruling ending
  enforcement or a bankruptcy) — one ``court_judgment``;
- ``award_enforcement``: an arbitral award (仲裁裁决书) *together with* an enforcement
  order (执行裁定书) — an award alone proves nothing unrecoverable;
- ``other``: other sufficient evidence (a death or disappearance declaration, a
  deregistration …), described in words.

The loss is not typed in: it is the compensation less everything recovered, at that
moment, and it must be above 0 (nothing left to lose is a closed recovery, not a loss).
The write-off is a decision of the tenant's chain (``approval_id``), taken once every
recovery action is closed; it fires ``write_off`` in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from danbao.audit import record_event
from danbao.db.models import (
    Attachment,
    Project,
    ProjectCompensation,
    ProjectRecovery,
    ProjectWriteOff,
    User,
)

from . import service
from .attributes import AttributeFault, AttributesInvalid
from .default import DefaultRefused
from .inputs import Reader
from .recovery import recovered_total

VIA = "write-off"
KINDS = ("court_judgment", "arbitral_award", "enforcement_order", "other")
MAX_ITEMS = 20


@dataclass(frozen=True)
class Evidence:
    kind: str
    reference: str
    issued_on: date
    issuer: str | None
    description: str | None
    attachment_id: uuid.UUID | None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "issued_on": self.issued_on.isoformat(),
            "issuer": self.issuer,
            "description": self.description,
            "attachment_id": None if self.attachment_id is None else str(self.attachment_id),
        }


@dataclass(frozen=True)
class WriteOffInput:
    written_off_on: date
    evidence: tuple[Evidence, ...]
    basis: str
    loss: Decimal | None
    """The loss the caller saw, if given: refused when it is no longer the loss."""


def basis_of(kinds: set[str]) -> str | None:
    """Which of the regulator's grounds the evidence makes, the strongest first."""
    if "court_judgment" in kinds:
        return "judgment"
    if {"arbitral_award", "enforcement_order"} <= kinds:
        return "award_enforcement"
    if "other" in kinds:
        return "other"
    return None


def read_write_off(read: Reader) -> WriteOffInput:
    written_off_on = read.day("written_off_on")
    loss = read.money("loss", required=False)
    items = read.body.get("evidence")
    evidence: list[Evidence] = []
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        read.fault("evidence", f"evidence: a list of 1 to {MAX_ITEMS} documents")
    else:
        for index, item in enumerate(items):
            found = _item(read, index, item)
            if found is not None:
                evidence.append(found)
    read.done()
    assert written_off_on
    basis = basis_of({e.kind for e in evidence})
    if basis is None:
        message = (
            "a loss needs a court judgment or ruling, an arbitral award with an enforcement "
            "order, or other sufficient evidence described"
        )
        raise AttributesInvalid([AttributeFault("/evidence", message)])
    return WriteOffInput(written_off_on, tuple(evidence), basis, loss)


def _item(read: Reader, index: int, item: Any) -> Evidence | None:
    if not isinstance(item, dict):
        read.faults.append(AttributeFault(f"/evidence/{index}", "must be an object"))
        return None
    one = Reader(item, f"/evidence/{index}")
    kind = one.choice("kind", KINDS)
    reference = one.text("reference", required=True)
    issued_on = one.day("issued_on")
    issuer = one.text("issuer", required=kind in ("court_judgment", "arbitral_award"))
    description = one.text("description", required=kind == "other", limit=1000)
    attachment_id: uuid.UUID | None = None
    raw = item.get("attachment_id")
    if raw not in (None, ""):
        try:
            attachment_id = uuid.UUID(str(raw))
        except ValueError:
            one.fault("attachment_id", "attachment_id must be the id of an uploaded file")
    read.faults.extend(one.faults)
    if one.faults:
        return None
    assert kind and reference and issued_on
    return Evidence(kind, reference, issued_on, issuer, description, attachment_id)


async def _check_attachments(project: Project, evidence: tuple[Evidence, ...]) -> None:
    """An attached file must belong to the project's own application record."""
    faults = []
    for index, item in enumerate(evidence):
        if item.attachment_id is None:
            continue
        found = await Attachment.filter(id=item.attachment_id, record_id=project.record_id).exists()
        if not found:
            message = "no such file among the attachments of this project's application"
            faults.append(AttributeFault(f"/evidence/{index}/attachment_id", message))
    if faults:
        raise AttributesInvalid(faults)


async def write_off(
    project_id: uuid.UUID,
    given: WriteOffInput,
    *,
    approval_id: uuid.UUID | None,
    expected_version: int,
    user: User,
    reason: str = "",
    visible: Any = None,
) -> tuple[Project, ProjectWriteOff] | None:
    """Recognise the loss and move the project to 损失核销 (None: no such project)."""
    outcome = await service.apply_event(
        project_id,
        "write_off",
        expected_version=expected_version,
        user=user,
        reason=reason,
        approval_id=approval_id,
        visible=visible,
        via=VIA,
    )
    if outcome is None:
        return None
    assert approval_id is not None  # apply_event refuses the event without one
    project = outcome.project
    still_open = await ProjectRecovery.filter(project_id=project.id, status="open").count()
    if still_open:
        raise DefaultRefused("write_off_open_actions", actions=still_open)
    paid = await ProjectCompensation.filter(project_id=project.id).first()
    if paid is None:
        raise DefaultRefused("compensation_missing")
    compensated = Decimal(paid.amount)
    recovered = await recovered_total(project.id)
    loss = compensated - recovered
    if loss <= 0:
        raise DefaultRefused("write_off_nothing", compensated=compensated, recovered=recovered)
    if given.loss is not None and given.loss != loss:
        raise DefaultRefused("write_off_loss_changed", "/loss", given=given.loss, loss=loss)
    if given.written_off_on < paid.paid_on:
        raise DefaultRefused("date_before", "/written_off_on", since=paid.paid_on)
    await _check_attachments(project, given.evidence)
    row = await ProjectWriteOff.create(
        project_id=project.id,
        approval_id=approval_id,
        compensated=compensated,
        recovered=recovered,
        loss=loss,
        written_off_on=given.written_off_on,
        basis=given.basis,
        evidence=[e.as_json() for e in given.evidence],
        created_by=user.id,
    )
    await record_event(
        "project.written_off",
        "project",
        str(project.id),
        {
            "write_off_id": str(row.id),
            "loss": str(loss),
            "compensated": str(compensated),
            "recovered": str(recovered),
            "written_off_on": given.written_off_on.isoformat(),
            "basis": given.basis,
            "evidence": [
                {"kind": e.kind, "reference": e.reference, "issued_on": e.issued_on.isoformat()}
                for e in given.evidence
            ],
            "approval_id": str(approval_id),
            "actor": str(user.id),
        },
    )
    return project, row
