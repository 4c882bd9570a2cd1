"""Moving the running approvals of a chain onto a newer version, stored and run as a job.

Mirrors the record migrations (``danbao.records.migration``) in shape: a mapping is
checked and dry-run (nothing written), may be kept as a *planned* run, and a run is a
job (``migration_job``). Unlike records, approvals do not move all or nothing: each one
moves in its own transaction under its instance row lock (``SELECT … FOR UPDATE``, the
lock every action takes), so an approval is never half-moved and an approver acting at
the same moment is either before the move (the move sees their decision) or after it
(their action runs on the new version). One approval that cannot move is reported with
its reasons and stays pinned; the others move.

Each move is one ``migrate`` action of the approval (action log, audit event
``workflow.migrate`` with the old and new plan hash and version and the mapping used)
under the idempotency key ``migrate:<run>:<instance>``, so a run delivered twice or
started again moves nothing twice. Pure rules: :mod:`danbao.workflow.migrate`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import (
    Record,
    WorkflowAction,
    WorkflowInstance,
    WorkflowMigration,
    WorkflowTask,
    WorkflowTimer,
)
from danbao.definitions import Bundle
from danbao.definitions.versions import VersionNotFound, get_version
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.sensitive import open_data
from danbao.workdays import Clock

from .engine import Env
from .migrate import (
    LIVE,
    MappingRefused,
    Migrated,
    NodeMapping,
    Problem,
    check_mapping,
    migrate,
)
from .people import People
from .plan import Plan
from .state import State
from .store import _now, _persist, load_people, plan_of

PLANNED = "planned"
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
LISTED = 500
"""Approvals named one by one in a report (the counts cover all of them)."""


class WrongState(Exception):
    """The run is not in a state that allows this (e.g. running a done run)."""


@dataclass(frozen=True)
class Chains:
    """The chain at both versions, and the people it is resolved against."""

    workflow_id: str
    versions: tuple[int, int]
    old: Plan
    new: Plan
    bundle: Bundle
    people: People
    sensitive: frozenset[str]


async def chains_at(workflow_id: str, from_version: int, to_version: int) -> Chains:
    """The chain at both versions; MappingRefused naming the bad version or chain."""
    problems: list[Problem] = []
    found: list[Bundle | None] = []
    for pointer, number in (("/from_version", from_version), ("/to_version", to_version)):
        try:
            bundle = Bundle.from_published((await get_version(number)).bundle)
        except VersionNotFound:
            problems.append(Problem(pointer, "unknown_version", f"no version {number}"))
            found.append(None)
            continue
        if workflow_id not in bundle.workflows:
            message = f"version {number} has no chain {workflow_id!r}"
            problems.append(Problem(pointer, "unknown_chain", message))
        found.append(bundle)
    if not problems and to_version <= from_version:
        problems.append(Problem("/to_version", "not_newer", "must be later than from_version"))
    if problems:
        raise MappingRefused(problems)
    old, new = found
    assert old is not None and new is not None
    plan = plan_of(new.workflows[workflow_id])
    try:
        sensitive = FormDefinition.from_bundle(new, plan.form_id).sensitive_fields
    except FormNotFound:
        sensitive = frozenset()
    return Chains(
        workflow_id,
        (from_version, to_version),
        plan_of(old.workflows[workflow_id]),
        plan,
        new,
        await load_people(new),
        sensitive,
    )


async def _pinned(chains: Chains) -> list[WorkflowInstance]:
    return list(
        await WorkflowInstance.filter(
            workflow_id=chains.workflow_id,
            definition_version=chains.versions[0],
            status__in=LIVE,
        ).order_by("created_at", "id")
    )


async def _data(keys: TenantKeys, record_id: uuid.UUID) -> tuple[dict[str, Any], str | None]:
    record = await Record.get_in_tenant(record_id)
    if record is None:
        return {}, None
    return await open_data(keys, record.form_id, record.data), record.number


def _attempt(chains: Chains, instance: WorkflowInstance, mapping: NodeMapping, data: Any) -> Any:
    env = Env(chains.new, chains.people, data, chains.sensitive)
    state = State.from_json(instance.state)
    return migrate(env, chains.old, state, mapping, versions=chains.versions, actor="")


def _entry(
    chains: Chains, instance: WorkflowInstance, number: str | None, done: Migrated
) -> dict[str, Any]:
    """One approval in a report: where each live path lands and who holds its tasks."""
    state, people = done.result.state, chains.people

    def email(user: str) -> str:
        person = people.persons.get(user)
        return person.email if person else user

    return {
        "instance": str(instance.id),
        "record": str(instance.record_id),
        "number": number,
        "status": instance.status,
        "can_move": True,
        "moves": [
            {
                **m.as_json(),
                "how": m.how,
                "tasks": m.tasks,
                "users": sorted(email(t.user) for t in state.tasks.values() if t.node == m.to),
            }
            for m in done.review.moves
        ],
        "forgotten": done.review.forgotten,
        "after": state.status,
        "problems": [],
    }


def _refused(
    instance: WorkflowInstance, number: str | None, problems: list[Problem]
) -> dict[str, Any]:
    return {
        "instance": str(instance.id),
        "record": str(instance.record_id),
        "number": number,
        "status": instance.status,
        "can_move": False,
        "moves": [],
        "forgotten": [],
        "problems": [p.as_json() for p in problems],
    }


@dataclass
class Report:
    total: int = 0
    movable: int = 0
    refused: int = 0
    instances: list[dict[str, Any]] | None = None

    def add(self, entry: dict[str, Any]) -> None:
        self.total += 1
        if entry["can_move"]:
            self.movable += 1
        else:
            self.refused += 1
        self.instances = self.instances or []
        if len(self.instances) < LISTED:
            self.instances.append(entry)

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "movable": self.movable,
            "refused": self.refused,
            "instances": self.instances or [],
        }


async def dry_run(keys: TenantKeys, chains: Chains, mapping: NodeMapping) -> Report:
    """What a run would do to each approval pinned to ``from_version``; writes nothing."""
    report = Report()
    for instance in await _pinned(chains):
        data, number = await _data(keys, instance.record_id)
        try:
            done = _attempt(chains, instance, mapping, data)
        except MappingRefused as refused:
            report.add(_refused(instance, number, refused.problems))
            continue
        report.add(_entry(chains, instance, number, done))
    return report


async def plan(
    keys: TenantKeys,
    workflow_id: str,
    from_version: int,
    to_version: int,
    raw_mapping: Any,
    *,
    created_by: uuid.UUID,
    keep: bool,
) -> tuple[Report, WorkflowMigration | None]:
    """Check the mapping and dry-run it; with ``keep``, store it as a planned run (audited)."""
    chains = await chains_at(workflow_id, from_version, to_version)
    mapping = check_mapping(chains.old, chains.new, raw_mapping)
    report = await dry_run(keys, chains, mapping)
    if not keep:
        return report, None
    run = await WorkflowMigration.create(
        workflow_id=workflow_id,
        from_version=from_version,
        to_version=to_version,
        mapping=mapping,
        status=PLANNED,
        report={"dry_run": report.as_json()},
        created_by=created_by,
    )
    await record_event(
        "workflow_migration.planned",
        "workflow_migration",
        str(run.id),
        {
            "workflow": workflow_id,
            "from_version": from_version,
            "to_version": to_version,
            "mapping": mapping,
            "total": report.total,
            "movable": report.movable,
            "refused": report.refused,
        },
    )
    return report, run


async def get_run(
    run_id: uuid.UUID, workflow_id: str | None, *, for_update: bool = False
) -> WorkflowMigration | None:
    """The tenant's run (of ``workflow_id`` when given); None for a foreign or missing one."""
    query = WorkflowMigration.filter(id=run_id)
    if workflow_id is not None:
        query = query.filter(workflow_id=workflow_id)
    if for_update:
        query = query.select_for_update()
    return await query.first()


async def list_runs(workflow_id: str | None = None, limit: int = 50) -> list[WorkflowMigration]:
    query = WorkflowMigration.filter()
    if workflow_id is not None:
        query = query.filter(workflow_id=workflow_id)
    return list(await query.order_by("-created_at").limit(limit))


async def request_run(run: WorkflowMigration) -> None:
    """Mark a planned (or failed) run queued; the caller enqueues the job once this commits.
    A failed run starts again: the approvals it moved are pinned to the new version now and
    are not looked at again."""
    if run.status not in (PLANNED, QUEUED, FAILED):
        raise WrongState(run.status)
    if run.status != QUEUED:
        await WorkflowMigration.filter(id=run.id).update(status=QUEUED, error="")
        run.status = QUEUED
        await record_event("workflow_migration.queued", "workflow_migration", str(run.id))


async def _claim(run_id: uuid.UUID) -> WorkflowMigration | None:
    """queued -> running in a committed transaction of its own, so that a second delivery
    of the same job finds nothing to do."""
    async with in_transaction():
        run = await WorkflowMigration.filter(id=run_id).select_for_update().first()
        if run is None or run.status != QUEUED:
            return None
        await WorkflowMigration.filter(id=run.id).update(status=RUNNING, started_at=_now(None))
        run.status = RUNNING
        return run


async def move_instance(
    keys: TenantKeys,
    chains: Chains,
    run_id: uuid.UUID,
    instance_id: uuid.UUID,
    mapping: NodeMapping,
    actor: uuid.UUID,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Move one approval in its own transaction under its row lock; its report entry with
    ``result``: moved, refused (with problems), or skipped (moved already, finished, or
    pinned elsewhere since the plan)."""
    key = f"migrate:{run_id}:{instance_id}"
    request = {"op": "migrate", "run": str(run_id), "instance": str(instance_id)}
    async with in_transaction():
        instance = await WorkflowInstance.filter(id=instance_id).select_for_update().first()
        if instance is None:
            return {"instance": str(instance_id), "result": "skipped", "why": "gone"}
        done_before = await WorkflowAction.filter(actor_id=actor, idempotency_key=key).exists()
        data, number = await _data(keys, instance.record_id)
        base = {"instance": str(instance.id), "record": str(instance.record_id), "number": number}
        if done_before:
            return {**base, "result": "skipped", "why": "moved already"}
        if instance.status not in LIVE:
            return {**base, "result": "skipped", "why": f"the approval is {instance.status}"}
        if (
            instance.definition_version != chains.versions[0]
            or instance.plan_hash != chains.old.hash
        ):
            why = f"pinned to version {instance.definition_version} now"
            return {**base, "result": "skipped", "why": why}
        env = Env(chains.new, chains.people, data, chains.sensitive)
        state = State.from_json(instance.state)
        try:
            done = migrate(
                env, chains.old, state, mapping, versions=chains.versions, actor=str(actor)
            )
        except MappingRefused as refused:
            entry = _refused(instance, number, refused.problems)
            return {**entry, "result": "refused"}
        result = done.result
        now = _now(clock)
        instance.revision += 1
        instance.state = result.state.to_json()
        instance.status = result.state.status
        instance.plan_hash = chains.new.hash
        instance.definition_version = chains.versions[1]
        if instance.status not in LIVE:
            instance.finished_at = now
        await WorkflowInstance.filter(id=instance.id).update(
            state=instance.state,
            status=instance.status,
            revision=instance.revision,
            plan_hash=instance.plan_hash,
            definition_version=instance.definition_version,
            finished_at=instance.finished_at,
            updated_at=now,
        )
        await _persist(
            instance, chains.new, chains.bundle, result, "migrate", actor, None, key, request, clock
        )
        await relabel(instance, done)
        return {**_entry(chains, instance, number, done), "result": "moved"}


async def relabel(instance: WorkflowInstance, done: Migrated) -> None:
    """Kept tasks whose node has a new id: their rows and their pending timers follow (the
    timer sweep fires a timer only while its task stands at the timer's node); the task
    keys, versions and due times stay — the deadline belongs to the task."""
    for task in done.relabelled:
        await WorkflowTask.filter(instance_id=instance.id, task_key=task.id).update(
            node_id=task.node
        )
        await WorkflowTimer.filter(
            instance_id=instance.id, task_key=task.id, status="pending"
        ).update(node_id=task.node)


async def apply_run(keys: TenantKeys, run_id: uuid.UUID, clock: Clock | None = None) -> str:
    """Carry out a queued run, approval by approval; returns the status it ends in."""
    run = await _claim(run_id)
    if run is None:
        return "skipped"
    counts = {"moved": 0, "refused": 0, "skipped": 0, "error": 0}
    listed: list[dict[str, Any]] = []
    try:
        async with in_transaction():  # outside a transaction row-level security shows nothing
            chains = await chains_at(run.workflow_id, run.from_version, run.to_version)
            mapping = check_mapping(chains.old, chains.new, run.mapping)
            ids = [i.id for i in await _pinned(chains)]
        for instance_id in ids:
            try:
                entry = await move_instance(
                    keys, chains, run.id, instance_id, mapping, run.created_by, clock
                )
            except Exception as exc:  # one approval's failure leaves it pinned, not the run
                entry = {
                    "instance": str(instance_id),
                    "result": "error",
                    "why": f"{type(exc).__name__}: {exc}",
                }
            counts[entry["result"]] += 1
            if len(listed) < LISTED:
                listed.append(entry)
    except MappingRefused as refused:
        error = "; ".join(f"{p.pointer}: {p.message}" for p in refused.problems)
        await _finish(run, FAILED, error=error)
        return FAILED
    except Exception as exc:
        await _finish(run, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    outcome = {"total": sum(counts.values()), **counts, "instances": listed}
    await _finish(
        run,
        DONE,
        report={**run.report, "run": outcome},
        moved=counts["moved"],
        failed=counts["refused"] + counts["error"],
    )
    return DONE


async def _finish(run: WorkflowMigration, status: str, **values: Any) -> None:
    async with in_transaction():
        await WorkflowMigration.filter(id=run.id).update(
            status=status, finished_at=_now(None), **values
        )
        data = {k: v for k, v in values.items() if k in ("moved", "failed", "error")}
        event = "workflow_migration.completed" if status == DONE else "workflow_migration.failed"
        await record_event(event, "workflow_migration", str(run.id), data)


def run_json(run: WorkflowMigration) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "workflow": run.workflow_id,
        "from_version": run.from_version,
        "to_version": run.to_version,
        "mapping": run.mapping,
        "status": run.status,
        "moved": run.moved,
        "failed": run.failed,
        "error": run.error,
        "report": run.report,
        "created_by": str(run.created_by),
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
