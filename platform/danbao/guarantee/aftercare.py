"""Post-loan tasks (保后任务): visits (保后检查) and document renewals, generated on the
tenant's rules when the bank disburses, listed, completed, and cancelled on release.

The rules are tenant.json ``aftercare.tasks`` (meta-schema ``$defs/aftercare_task``,
checked at publish by pointer), e.g.::

    "aftercare": {"tasks": [
      {"id": "visit", "kind": "visit", "title": {"zh-CN": "保后检查"}, "every_months": 3},
      {"id": "insurance", "kind": "renewal", "title": {"zh-CN": "抵押物保险续保"},
       "every_months": 12, "when": {"counter_kinds": ["mortgage"]}}],
     "warning": {"overdue_days": 1, "court_recheck": true}}

A rule makes one task every ``every_months`` after the disbursement date, up to the
loan's last due date, if its ``when`` holds (business and client types, a minimum
amount, a kind of counter-guarantee the project holds).
"""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from danbao.audit import record_event
from danbao.db.models import AftercareTask, CounterGuarantee, Project, User

from .values import Reader, add_months

STATUSES = ("open", "done", "cancelled")
MAX_TASKS_PER_RULE = 120


class TaskClosed(Exception):
    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(f"the task is {status}")


def rules_of(tenant: dict[str, Any]) -> list[dict[str, Any]]:
    return list((tenant.get("aftercare") or {}).get("tasks") or [])


def applies(rule: dict[str, Any], project: Project, counter_kinds: set[str]) -> bool:
    when = rule.get("when") or {}
    if "business_types" in when and project.business_type not in when["business_types"]:
        return False
    if "client_types" in when and project.client_type not in when["client_types"]:
        return False
    if "min_amount" in when and Decimal(project.amount) < Decimal(when["min_amount"]):
        return False
    return not ("counter_kinds" in when and not counter_kinds & set(when["counter_kinds"]))


def due_dates(rule: dict[str, Any], start: dt.date, until: dt.date) -> list[dt.date]:
    every = int(rule["every_months"])
    dates, k = [], 1
    while k <= MAX_TASKS_PER_RULE and (day := add_months(start, every * k)) <= until:
        dates.append(day)
        k += 1
    return dates


async def generate(
    project: Project, start: dt.date, until: dt.date, rules: list[dict[str, Any]]
) -> list[AftercareTask]:
    """The tasks of ``rules`` for a loan disbursed on ``start`` and due by ``until``."""
    kinds = set(
        await CounterGuarantee.filter(project_id=project.id)
        .exclude(registration="cancelled")
        .values_list("kind", flat=True)
    )
    rows = [
        AftercareTask(
            tenant_id=project.tenant_id,
            project_id=project.id,
            rule_id=rule["id"],
            kind=rule["kind"],
            title=rule["title"],
            due_on=day,
        )
        for rule in rules
        if applies(rule, project, {str(k) for k in kinds})
        for day in due_dates(rule, start, until)
    ]
    if rows:
        await AftercareTask.bulk_create(rows)
    await record_event(
        "aftercare.generated",
        "project",
        str(project.id),
        {"tasks": len(rows), "rules": sorted({r.rule_id for r in rows})},
    )
    return rows


def view(task: AftercareTask, locale: str) -> dict[str, Any]:
    title = task.title or {}
    return {
        "id": str(task.id),
        "rule": task.rule_id,
        "kind": task.kind,
        "title": title.get(locale) or title.get("zh-CN") or task.rule_id,
        "due_on": task.due_on.isoformat(),
        "status": task.status,
        "note": task.note,
        "done_by": str(task.done_by) if task.done_by else None,
        "done_at": task.done_at.isoformat() if task.done_at else None,
    }


async def tasks_of(project: Project) -> list[AftercareTask]:
    return list(await AftercareTask.filter(project_id=project.id).order_by("due_on", "rule_id"))


def read_completion(body: dict[str, Any]) -> str:
    reader = Reader(body)
    reader.unknown({"note"})
    note = reader.text("note", max_length=2000)
    reader.check()
    return note or ""


async def complete(
    project: Project, task_id: uuid.UUID, note: str, user: User
) -> AftercareTask | None:
    """Mark an open task done with what was found (the visit's note); audited."""
    task = await AftercareTask.filter(project_id=project.id, id=task_id).select_for_update().first()
    if task is None:
        return None
    if task.status != "open":
        raise TaskClosed(task.status)
    task.status, task.note, task.done_by = "done", note, user.id
    task.done_at = datetime.now(UTC)
    await AftercareTask.filter(id=task.id).update(
        status="done", note=note, done_by=user.id, done_at=task.done_at
    )
    await record_event(
        "aftercare.task_done",
        "aftercare_task",
        str(task.id),
        {"project_id": str(project.id), "rule": task.rule_id, "due_on": task.due_on.isoformat()},
    )
    return task


async def cancel_open(project: Project, reason: str) -> int:
    """Cancel the open tasks of a released project; how many."""
    count = await AftercareTask.filter(project_id=project.id, status="open").update(
        status="cancelled"
    )
    if count:
        await record_event(
            "aftercare.cancelled", "project", str(project.id), {"tasks": count, "reason": reason}
        )
    return count
