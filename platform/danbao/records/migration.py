"""Moving a form's records to a newer definition version, and moving them back.

A run takes every record of one form pinned to one version (``from_version``) to a later
one (``to_version``) through a checked :class:`~danbao.records.mapping.Mapping`:

1. **Plan (dry run).** Each record is opened (sensitive values decrypted in memory), mapped,
   and validated against the new version (a submitted record against the whole schema, a
   draft without ``required``). Nothing is written; the report counts the records, lists
   the first ones that would change with the fields they change, and every failure as
   ``{record, number, pointer, message}``. A plan may be kept as a run to start later.
2. **Run (a job).** All or nothing for the whole run, in one transaction: the records are
   read in batches and locked, checked again exactly as in the plan, and written (sealed
   again under the new version's sensitive fields, revision + 1), each with a snapshot of
   the row as it was stored (envelopes included, so nothing is ever held in clear). One
   failing record rolls the whole run back and the run is marked failed with the report.
   The per-record audit events (field-level changes, sensitive fields only said to have
   changed) are appended at the end, so the tenant's audit chain is locked for a moment,
   not for the whole run.
3. **Rollback (a job).** Restores every snapshot exactly (data, search index, version,
   revision, time of the last change), again all or nothing: a record changed since the
   run (saved or submitted since) refuses the whole rollback, so nobody's later edit is lost.

A migration is a definitions action (``admin:definitions``): it reaches every record of
the form, whatever the administrator's data scope, and its reports name records and
field pointers, never values.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Record, RecordMigration, RecordSnapshot
from danbao.definitions.versions import VersionNotFound, get_version
from danbao.records.changes import audit_changes, diff_fields
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.mapping import Mapping, MappingInvalid, parse_mapping
from danbao.records.sensitive import open_data, seal
from danbao.records.validation import FieldError, validate_data

PLANNED = "planned"
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
ROLLBACK_QUEUED = "rollback_queued"
ROLLING_BACK = "rolling_back"
ROLLED_BACK = "rolled_back"

BATCH = 500
LISTED = 200  # records named in a report (the counts cover all of them)
SUBMITTED = "submitted"


class MigrationRefused(Exception):
    """The request cannot become a migration; ``errors`` say where and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


class WrongState(Exception):
    """The run is not in a state that allows this (e.g. rolling back a failed run)."""


@dataclass
class Report:
    """What a plan or run found. ``total`` counts the records at ``from_version``."""

    total: int = 0
    affected: int = 0
    unchanged: int = 0
    listed: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    failed_records: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "affected": self.affected,
            "unchanged": self.unchanged,
            "failed": self.failed_records,
            "records": self.listed,
            "failures": self.failures,
        }

    def note(self, record: Record, changes: list[str]) -> None:
        if changes:
            self.affected += 1
        else:
            self.unchanged += 1
        if len(self.listed) < LISTED:
            self.listed.append({**_ref(record), "changes": changes})

    def fail(self, record: Record, errors: list[FieldError]) -> None:
        self.failed_records += 1
        if len(self.failures) < LISTED * 5:
            self.failures += [{**_ref(record), **e.as_json()} for e in errors]


def _ref(record: Record) -> dict[str, Any]:
    return {"record": str(record.id), "number": record.number, "status": record.status}


async def forms_at(form_id: str, from_version: int, to_version: int) -> tuple[Any, Any]:
    """The form as the two versions define it; MigrationRefused naming the bad version."""
    errors: list[FieldError] = []
    found: list[FormDefinition | None] = []
    for pointer, number in (("/from_version", from_version), ("/to_version", to_version)):
        try:
            version = await get_version(number)
            found.append(FormDefinition.from_files(version.bundle, form_id))
        except VersionNotFound:
            errors.append(FieldError(pointer, f"version {number} does not exist"))
            found.append(None)
        except FormNotFound:
            errors.append(FieldError(pointer, f"version {number} has no form {form_id!r}"))
            found.append(None)
    if not errors and to_version <= from_version:
        errors.append(FieldError("/to_version", "must be a later version than from_version"))
    if errors:
        raise MigrationRefused(errors)
    return found[0], found[1]


async def build_mapping(
    form_id: str, from_version: int, to_version: int, operations: Any, *, locale: str
) -> Mapping:
    source, target = await forms_at(form_id, from_version, to_version)
    try:
        return parse_mapping(
            operations, source, target, versions=(from_version, to_version), locale=locale
        )
    except MappingInvalid as invalid:
        raise MigrationRefused(invalid.errors) from invalid


async def _batches(form_id: str, version: int, *, lock: bool) -> AsyncIterator[list[Record]]:
    """The form's records at ``version`` by id, a batch at a time (locked when writing)."""
    last: uuid.UUID | None = None
    while True:
        query = Record.filter(form_id=form_id, form_version=version)
        if last is not None:
            query = query.filter(id__gt=last)
        query = query.order_by("id").limit(BATCH)
        if lock:
            query = query.select_for_update()
        batch = list(await query)
        if not batch:
            return
        yield batch
        last = batch[-1].id


async def _mapped(
    keys: TenantKeys, mapping: Mapping, record: Record, locale: str
) -> tuple[dict[str, Any], dict[str, Any], list[FieldError]]:
    """(old data, new data, problems) of one record, both in plaintext."""
    old = await open_data(keys, record.form_id, record.data)
    new, errors = mapping.apply(old, locale)
    if not errors:
        complete = record.status == SUBMITTED
        errors = validate_data(mapping.target, new, complete=complete, locale=locale)
    return old, new, errors


async def dry_run(
    keys: TenantKeys, mapping: Mapping, form_id: str, from_version: int, *, locale: str
) -> Report:
    """What a run would do, record by record; writes nothing."""
    report = Report()
    async for batch in _batches(form_id, from_version, lock=False):
        for record in batch:
            report.total += 1
            old, new, errors = await _mapped(keys, mapping, record, locale)
            if errors:
                report.fail(record, errors)
            else:
                report.note(record, [c.pointer for c in diff_fields(old, new)])
    return report


async def plan(
    keys: TenantKeys,
    form_id: str,
    from_version: int,
    to_version: int,
    operations: Any,
    *,
    locale: str,
    created_by: uuid.UUID,
    keep: bool,
) -> tuple[Report, RecordMigration | None]:
    """Check the mapping and dry-run it; with ``keep``, store it as a planned run (audited)."""
    mapping = await build_mapping(form_id, from_version, to_version, operations, locale=locale)
    report = await dry_run(keys, mapping, form_id, from_version, locale=locale)
    if not keep:
        return report, None
    run = await RecordMigration.create(
        form_id=form_id,
        from_version=from_version,
        to_version=to_version,
        operations=[op.as_json() for op in mapping.operations],
        status=PLANNED,
        report={"dry_run": report.as_json()},
        affected=report.affected,
        failed=report.failed_records,
        created_by=created_by,
    )
    await record_event(
        "migration.planned",
        "record_migration",
        str(run.id),
        {
            "form": form_id,
            "from_version": from_version,
            "to_version": to_version,
            "operations": run.operations,
            "total": report.total,
            "affected": report.affected,
            "failed": report.failed_records,
        },
        sensitive_keys=_sensitive_defaults(mapping),
    )
    return report, run


def _sensitive_defaults(mapping: Mapping) -> frozenset[str]:
    # A default for a sensitive field is itself a secret: keep it out of the audit trail.
    secret = any(
        op.op == "add" and op.target in mapping.target.sensitive_fields for op in mapping.operations
    )
    return frozenset({"default"}) if secret else frozenset()


async def get_run(
    run_id: uuid.UUID, form_id: str, *, for_update: bool = False
) -> RecordMigration | None:
    """The tenant's run of ``form_id`` (None for a foreign or missing one alike)."""
    query = RecordMigration.filter(id=run_id, form_id=form_id)
    if for_update:
        query = query.select_for_update()
    return await query.first()


async def list_runs(form_id: str, limit: int = 50) -> list[RecordMigration]:
    return list(await RecordMigration.filter(form_id=form_id).order_by("-created_at").limit(limit))


async def request_run(run: RecordMigration) -> None:
    """Mark a planned run queued (the caller enqueues the job once this commits)."""
    if run.status not in (PLANNED, QUEUED):
        raise WrongState(run.status)
    if run.status == PLANNED:
        await RecordMigration.filter(id=run.id).update(status=QUEUED)
        run.status = QUEUED
        await record_event("migration.queued", "record_migration", str(run.id))


async def request_rollback(run: RecordMigration, user_id: uuid.UUID) -> None:
    if run.status not in (DONE, ROLLBACK_QUEUED):
        raise WrongState(run.status)
    if run.status == DONE:
        await RecordMigration.filter(id=run.id).update(
            status=ROLLBACK_QUEUED, rolled_back_by=user_id
        )
        run.status = ROLLBACK_QUEUED
        await record_event("migration.rollback_requested", "record_migration", str(run.id))


class _Abort(Exception):
    """Leave the run's transaction without writing anything."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__("aborted")
        self.report = report


async def _claim(run_id: uuid.UUID, expected: str, becomes: str) -> RecordMigration | None:
    """Move the run from ``expected`` to ``becomes`` in a committed transaction of its own,
    so that a second delivery of the same job finds nothing to do."""
    async with in_transaction():
        run = await RecordMigration.filter(id=run_id).select_for_update().first()
        if run is None or run.status != expected:
            return None
        await RecordMigration.filter(id=run.id).update(status=becomes, started_at=_now())
        run.status = becomes
        return run


async def _finish(run: RecordMigration, status: str, event: str, **values: Any) -> None:
    async with in_transaction():
        await RecordMigration.filter(id=run.id).update(status=status, **values)
        data = {k: v for k, v in values.items() if k in ("affected", "failed", "error")}
        await record_event(event, "record_migration", str(run.id), data)


async def apply_run(keys: TenantKeys, run_id: uuid.UUID, *, locale: str = "zh-CN") -> str:
    """Carry out a queued run; returns the status it ends in."""
    run = await _claim(run_id, QUEUED, RUNNING)
    if run is None:
        return "skipped"
    try:
        async with in_transaction():  # outside a transaction row-level security shows nothing
            mapping = await build_mapping(
                run.form_id, run.from_version, run.to_version, run.operations, locale=locale
            )
            report, events = await _apply(keys, run, mapping, locale)
            if report.failed_records:
                raise _Abort(report.as_json())
            for record_id, changes in events:
                await record_event(
                    "record.migrated",
                    "record",
                    record_id,
                    {
                        "migration": str(run.id),
                        "from_version": run.from_version,
                        "to_version": run.to_version,
                        "changes": changes,
                    },
                )
            await RecordMigration.filter(id=run.id).update(
                status=DONE,
                report={**run.report, "run": report.as_json()},
                affected=report.affected,
                failed=0,
                finished_at=_now(),
            )
            await record_event(
                "migration.completed",
                "record_migration",
                str(run.id),
                {"affected": report.affected, "total": report.total},
            )
        return DONE
    except _Abort as aborted:
        await _finish(
            run,
            FAILED,
            "migration.failed",
            report={**run.report, "run": aborted.report},
            failed=aborted.report["failed"],
            finished_at=_now(),
        )
    except MigrationRefused as refused:
        await _finish(
            run, FAILED, "migration.failed", error=_first(refused.errors), finished_at=_now()
        )
    except Exception as exc:
        # Never the values: the type and message of what broke (e.g. a value that will
        # not decrypt names the form and field only).
        await _finish(
            run,
            FAILED,
            "migration.failed",
            error=f"{type(exc).__name__}: {exc}",
            finished_at=_now(),
        )
        raise
    return FAILED


def _first(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.pointer}: {e.message}" for e in errors)


async def _apply(
    keys: TenantKeys, run: RecordMigration, mapping: Mapping, locale: str
) -> tuple[Report, list[tuple[str, list[dict[str, Any]]]]]:
    report = Report()
    events: list[tuple[str, list[dict[str, Any]]]] = []
    async for batch in _batches(run.form_id, run.from_version, lock=True):
        for record in batch:
            report.total += 1
            old, new, errors = await _mapped(keys, mapping, record, locale)
            if errors:
                report.fail(record, errors)
                continue
            if report.failed_records:
                continue  # the run will roll back; keep checking to report every failure
            changes = diff_fields(old, new)
            report.note(record, [c.pointer for c in changes])
            stored, index = await seal(keys, mapping.target, new)
            await RecordSnapshot.create(
                migration_id=run.id,
                record_id=record.id,
                form_version=record.form_version,
                status=record.status,
                revision=record.revision,
                new_revision=record.revision + 1,
                data=record.data,
                search_index=record.search_index,
                updated_at=record.updated_at,
            )
            await Record.filter(id=record.id).update(
                data=stored,
                search_index=index,
                form_version=run.to_version,
                revision=record.revision + 1,
                updated_at=_now(),
            )
            sensitive_rows = _sensitive_rows(mapping.source, mapping.target)
            events.append(
                (str(record.id), audit_changes(changes, mapping.sensitive_fields, sensitive_rows))
            )
    return report, events


async def rollback_run(keys: TenantKeys, run_id: uuid.UUID) -> str:
    """Restore every record of a done run as its snapshot holds it; returns the end status."""
    run = await _claim(run_id, ROLLBACK_QUEUED, ROLLING_BACK)
    if run is None:
        return "skipped"
    try:
        async with in_transaction():
            conflicts, events = await _restore(keys, run)
            if conflicts:
                raise _Abort({"conflicts": conflicts[: LISTED * 5], "count": len(conflicts)})
            for record_id, changes in events:
                await record_event(
                    "record.migration_reverted",
                    "record",
                    record_id,
                    {"migration": str(run.id), "to_version": run.from_version, "changes": changes},
                )
            await RecordMigration.filter(id=run.id).update(
                status=ROLLED_BACK, rolled_back_at=_now()
            )
            await record_event(
                "migration.rolled_back", "record_migration", str(run.id), {"records": len(events)}
            )
        return ROLLED_BACK
    except _Abort as aborted:
        # Still applied: the run stays done, and says why it could not be undone.
        await _finish(
            run,
            DONE,
            "migration.rollback_refused",
            report={**run.report, "rollback": aborted.report},
            error=f"{aborted.report['count']} record(s) changed since the run",
        )
        return DONE
    except Exception as exc:
        await _finish(run, DONE, "migration.rollback_refused", error=f"{type(exc).__name__}: {exc}")
        raise


async def _restore(
    keys: TenantKeys, run: RecordMigration
) -> tuple[list[dict[str, Any]], list[tuple[str, list[dict[str, Any]]]]]:
    source, target = await forms_at(run.form_id, run.from_version, run.to_version)
    sensitive = source.sensitive_fields | target.sensitive_fields
    sensitive_rows = _sensitive_rows(source, target)
    conflicts: list[dict[str, Any]] = []
    events: list[tuple[str, list[dict[str, Any]]]] = []
    last: uuid.UUID | None = None
    while True:
        query = RecordSnapshot.filter(migration_id=run.id)
        if last is not None:
            query = query.filter(record_id__gt=last)
        snapshots = list(await query.order_by("record_id").limit(BATCH))
        if not snapshots:
            break
        last = snapshots[-1].record_id
        ids = [s.record_id for s in snapshots]
        current = {
            r.id: r for r in await Record.filter(id__in=ids).select_for_update().order_by("id")
        }
        for snap in snapshots:
            record = current.get(snap.record_id)
            if (
                record is None
                or record.revision != snap.new_revision
                or record.status != snap.status
                or record.form_version != run.to_version
            ):
                conflicts.append(
                    {"record": str(snap.record_id), "number": record.number if record else None}
                )
                continue
            if conflicts:
                continue
            now_plain = await open_data(keys, record.form_id, record.data)
            then_plain = await open_data(keys, record.form_id, snap.data)
            await Record.filter(id=record.id).update(
                data=snap.data,
                search_index=snap.search_index,
                form_version=snap.form_version,
                revision=snap.revision,
                updated_at=snap.updated_at,
            )
            events.append(
                (
                    str(record.id),
                    audit_changes(diff_fields(now_plain, then_plain), sensitive, sensitive_rows),
                )
            )
    return conflicts, events


def run_json(run: RecordMigration) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "form_id": run.form_id,
        "from_version": run.from_version,
        "to_version": run.to_version,
        "operations": run.operations,
        "status": run.status,
        "affected": run.affected,
        "failed": run.failed,
        "error": run.error,
        "report": run.report,
        "created_by": str(run.created_by),
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "rolled_back_at": run.rolled_back_at.isoformat() if run.rolled_back_at else None,
    }


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _sensitive_rows(*forms: FormDefinition) -> dict[str, frozenset[str]]:
    """Sensitive row fields on either side: their cells never reach the audit trail."""
    found: dict[str, frozenset[str]] = {}
    for form in forms:
        for key, subs in form.sensitive_rows.items():
            found[key] = found.get(key, frozenset()) | subs
    return found
