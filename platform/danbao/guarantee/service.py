"""Creating projects and applying transitions: in the caller's transaction, one audit
event per change, refusals as exceptions (the web layer turns them into answers).

A transition locks the project's row (``SELECT … FOR UPDATE``), plans the event from the
state it finds (``transitions.plan``), checks the row version the caller saw, then moves
state and version in one statement guarded by the same version, and appends
``project.transition``. Two callers racing on one project queue on the lock; the second
finds the version moved and gets ``StaleVersion`` with the current state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from danbao.audit import record_event
from danbao.crypto.fields import FieldPath, blind_index, encrypt_value
from danbao.crypto.tenant_keys import DATA, INDEX, TenantKeys
from danbao.db.models import Project, Record, User
from danbao.records.definition import FormDefinition
from danbao.records.sensitive import require_open
from danbao.tenancy.context import current_tenant

from . import effects
from .approval_check import check_approval
from .attributes import ProjectAttributes, mapping_for, read_attributes
from .states import INITIAL, State
from .transitions import Transition, plan
from .transitions import event as lookup

BORROWER = FieldPath("project", "borrower_id")
"""Where the sealed certificate number lives (the envelope's associated data names it);
one path for every source form, so equal numbers hash equally across forms."""

MAX_REASON = 1000


@dataclass(frozen=True)
class SystemActor:
    """Who fires an event when no person does (a scheduled job): ``id`` names the job,
    e.g. ``job:guarantee.warnings``, and stands as the audit event's actor."""

    id: str


class ProjectRefused(Exception):
    """Base of the refusals below."""


class NotSubmitted(ProjectRefused):
    """Only a submitted application becomes a project."""


class NoProjectMapping(ProjectRefused):
    """tenant.json declares no project mapping for the record's form."""


class AlreadyExists(ProjectRefused):
    def __init__(self, project_id: uuid.UUID | None) -> None:
        self.project_id = project_id
        super().__init__("this record already has a project")


class StaleVersion(ProjectRefused):
    def __init__(self, project: Project) -> None:
        self.project = project
        super().__init__(
            f"project {project.id} is at version {project.version}, state {project.state}"
        )


class ApprovalRequired(ProjectRefused):
    def __init__(self, event: str) -> None:
        self.event = event
        super().__init__(
            f"event {event!r} needs an approval of the tenant's chain: give approval_id"
        )


async def create_from_record(
    tenant: dict[str, Any],
    form: FormDefinition,
    record: Record,
    *,
    user: User,
    keys: TenantKeys,
) -> Project:
    """A project in the initial state for an opened, submitted ``record``.

    Raises NotSubmitted, NoProjectMapping, AlreadyExists, or AttributesInvalid (each fault
    by pointer into the record's data).
    """
    require_open(record)
    if record.status != "submitted" or record.number is None:
        raise NotSubmitted(str(record.id))
    mapping = mapping_for(tenant, record.form_id)
    if mapping is None:
        raise NoProjectMapping(record.form_id)
    existing = await Project.filter(record_id=record.id).first()
    if existing is not None:
        raise AlreadyExists(existing.id)
    attributes = read_attributes(mapping, record.data)
    borrower_hash, sealed = await _seal_borrower(keys, form, mapping, attributes)
    project = Project(
        tenant_id=current_tenant().tenant_id,
        record_id=record.id,
        form_id=record.form_id,
        number=record.number,
        state=INITIAL.value,
        version=1,
        business_type=attributes.business_type,
        client_type=attributes.client_type,
        amount=attributes.amount,
        term_months=attributes.term_months,
        fee_rate=attributes.fee_rate,
        lending_bank=attributes.lending_bank,
        bank_risk_share=attributes.bank_risk_share,
        borrower_id_hash=borrower_hash,
        borrower_id_sealed=sealed,
        related_group=attributes.related_group,
        industry=attributes.industry,
        region=attributes.region,
        created_by=user.id,
        department=record.department,
    )
    try:
        await project.save()
    except IntegrityError as exc:  # a concurrent create for the same record won the race
        raise AlreadyExists(None) from exc
    await record_event(
        "project.created",
        "project",
        str(project.id),
        {"record_id": str(record.id), "number": record.number, "state": project.state}
        | attributes.public(),
    )
    return project


async def _seal_borrower(
    keys: TenantKeys, form: FormDefinition, mapping: Any, attributes: ProjectAttributes
) -> tuple[str, str]:
    field = mapping["borrower_id"]["field"]
    fmt = form.properties.get(field, {}).get("format")
    index_key = await keys.current(INDEX)
    data_key = await keys.current(DATA)
    value = attributes.borrower_id
    digest = blind_index(
        index_key.key,
        BORROWER.form_id,
        BORROWER.field,
        value,
        fmt if isinstance(fmt, str) else None,
    )
    tenant_id = str(current_tenant().tenant_id)
    return digest, encrypt_value(data_key, tenant_id, BORROWER, value)


@dataclass(frozen=True)
class Outcome:
    """What a transition did (or, for a dry run, would do)."""

    project: Project
    transition: Transition
    applied: bool


async def apply_event(
    project_id: uuid.UUID,
    event: str,
    *,
    expected_version: int | None,
    user: User | SystemActor,
    reason: str = "",
    approval_id: uuid.UUID | None = None,
    dry_run: bool = False,
    visible: Any = None,
    via: str | None = None,
) -> Outcome | None:
    """Apply ``event`` to the project (None when it does not exist or is not ``visible``:
    a queryset of the projects the caller may see, see ``guarantee.access``).

    Raises UnknownEvent, StaleVersion (the caller saw another version: checked before the
    plan), NotAllowed (naming event, state and the states it is allowed from) or
    ApprovalRequired / ApprovalNotValid (see ``approval_check``). A dry run plans from the
    current state and checks the same things, but changes nothing. ``via`` names the
    route recording the event's own fact (``effects.OWN_ROUTES``; EventHasItsRoute).
    """
    rows = (visible if visible is not None else Project.all()).filter(id=project_id)
    if not dry_run:
        rows = rows.select_for_update()
    project = await rows.first()
    if project is None:
        return None
    lookup(event)  # an unknown event is refused before anything else
    # The version first: a caller who saw an older version learns the current state, rather
    # than a refusal planned from a state it never saw.
    if expected_version is not None and expected_version != project.version:
        raise StaleVersion(project)
    transition = plan(project.state, event)
    if transition.needs_approval:
        if approval_id is None:
            raise ApprovalRequired(event)
        await check_approval(project, event, approval_id)
    await effects.before(project, transition, via=via)
    if dry_run:
        return Outcome(project, transition, applied=False)
    moved = await Project.filter(
        tenant_id=project.tenant_id, id=project.id, version=project.version
    ).update(
        state=transition.to_state.value, version=project.version + 1, updated_at=datetime.now(UTC)
    )
    if moved != 1:  # cannot happen under the row lock; refuse rather than half-apply
        raise StaleVersion(project)
    data: dict[str, Any] = {
        "event": transition.event,
        "from": transition.from_state.value,
        "to": transition.to_state.value,
        "actor": str(user.id),
        "reason": reason[:MAX_REASON],
        "version": project.version + 1,
    }
    if approval_id is not None:
        data["approval_id"] = str(approval_id)
    await record_event("project.transition", "project", str(project.id), data)
    project.state, project.version = transition.to_state.value, project.version + 1
    await effects.after(project, transition, user)
    return Outcome(project, transition, applied=True)


def current_state(project: Project) -> State:
    return State(project.state)
