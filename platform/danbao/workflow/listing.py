"""Read-only lists of approvals for one person: the inbox tabs of the staff pages.

- *mine* (待办): their live tasks (one row per task, open or waiting for someone first);
- *claimable* (待认领): the pool tasks (``kind`` claim) they may claim (认领);
- *done* (已办): approvals they decided or acted on, newest first;
- *copied* (抄送我的): approvals a copy node sent to them.

Everything runs inside the caller's tenant transaction; rows are plain data for the page.
Filters, order and paging are SQL, so a tab costs one page of rows however long the
history. The tabs read the task, action, instance, record and user tables only; the
engine and store are not touched (their writes are the only way these rows change).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.functions import Max
from tortoise.queryset import QuerySet

from danbao.db.models import Record, User, WorkflowAction, WorkflowInstance, WorkflowTask

Tab = Literal["mine", "claimable", "done", "copied"]
TABS: tuple[Tab, ...] = ("mine", "claimable", "done", "copied")
CLAIM = "claim"

# Actions that count as having handled an approval (已办); starting, commenting and the
# submitter's own withdraw / cancel / resubmit do not.
HANDLED = (
    "approve",
    "reject",
    "abstain",
    "return",
    "transfer",
    "delegate",
    "resolve",
    "add_signer",
    "remove_signer",
    "take_back",
)


@dataclass
class Filters:
    form: str = ""
    submitter: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    overdue: bool = False

    @property
    def active(self) -> bool:
        return bool(self.form or self.submitter or self.date_from or self.date_to or self.overdue)


@dataclass
class Item:
    """One row of a tab: an approval, and for *mine* the caller's task in it."""

    instance: str
    workflow_id: str
    record_id: str
    form_id: str
    number: str | None
    submitter_id: str
    submitter: str
    submitter_email: str
    started: dt.datetime
    status: str
    at: dt.datetime
    """When it reached this tab: the task opened, the last action, the copy."""
    node: str | None = None
    task: str | None = None
    task_status: str | None = None
    kind: str | None = None
    version: int | None = None
    due_at: dt.datetime | None = None
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def overdue(self, now: dt.datetime) -> bool:
        return self.due_at is not None and self.due_at < now


PER_PAGE = 20


async def tab_counts(user_id: uuid.UUID) -> dict[Tab, int]:
    """How many rows each tab holds, unfiltered (the numbers on the tabs)."""
    tasks = WorkflowTask.filter(user_id=user_id)
    return {
        "mine": await tasks.filter(kind__not=CLAIM).count(),
        "claimable": await tasks.filter(kind=CLAIM).count(),
        "done": await WorkflowInstance.filter(id__in=Subquery(_handled(user_id))).count(),
        "copied": await WorkflowInstance.filter(id__in=Subquery(_copies(user_id))).count(),
    }


async def tab_page(
    user_id: uuid.UUID,
    tab: Tab,
    filters: Filters,
    *,
    now: dt.datetime,
    zone: dt.tzinfo,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> tuple[list[Item], int]:
    """One page of a tab with the filters applied, and how many rows match: filtered,
    ordered and paged by the database (mine and claimable oldest first, the order to work
    in; done and copied newest first)."""
    offset = (max(1, page) - 1) * per_page
    within = _instances(filters, zone)
    if tab in ("mine", "claimable"):
        tasks = WorkflowTask.filter(user_id=user_id)
        tasks = tasks.filter(kind=CLAIM) if tab == "claimable" else tasks.filter(kind__not=CLAIM)
        if within is not None:
            tasks = tasks.filter(instance_id__in=Subquery(within))
        if filters.overdue:
            tasks = tasks.filter(due_at__lt=now)
        total = await tasks.count()
        held = await tasks.order_by("created_at", "id").offset(offset).limit(per_page)
        # One row per task: a person can hold two tasks in one approval (two parallel arms).
        return await _items([(t.instance_id, _task_extra(t)) for t in held]), total
    if filters.overdue:
        return [], 0  # overdue is a property of one's own open tasks only
    actions = WorkflowAction.filter(actor_id=user_id, op__in=HANDLED)
    if tab == "copied":
        actions = _copy_actions(user_id)
    if within is not None:
        actions = actions.filter(instance_id__in=Subquery(within))
    total = await WorkflowInstance.filter(id__in=Subquery(actions.values("instance_id"))).count()
    latest = (
        await actions.annotate(last=Max("at"))
        .group_by("instance_id")
        .order_by("-last", "instance_id")
        .offset(offset)
        .limit(per_page)
        .values("instance_id", "last")
    )
    rows = [(r["instance_id"], {"at": r["last"]}) for r in latest]
    if tab == "copied":
        nodes = await _copy_nodes(str(user_id), [i for i, _ in rows])
        rows = [(i, {**extra, "node": nodes.get(i)}) for i, extra in rows]
    return await _items(rows), total


def _task_extra(t: WorkflowTask) -> dict[str, Any]:
    return {
        "at": t.created_at,
        "node": t.node_id,
        "task": t.task_key,
        "task_status": t.status,
        "kind": t.kind,
        "version": t.version,
        "due_at": t.due_at,
        "why": t.why,
    }


def _instances(filters: Filters, zone: dt.tzinfo) -> Any:
    """The ids of the approvals that pass the filters on the approval itself (form,
    submitter, start date in ``zone``), as a subquery; None when none is set."""
    query = WorkflowInstance.all()
    used = False
    if filters.form:
        query = query.filter(
            record_id__in=Subquery(Record.filter(form_id=filters.form).values("id"))
        )
        used = True
    needle = filters.submitter.strip()
    if needle:
        people = User.filter(Q(name__icontains=needle) | Q(email__icontains=needle))
        query = query.filter(submitter_id__in=Subquery(people.values("id")))
        used = True
    if filters.date_from:
        query = query.filter(created_at__gte=_start_of(filters.date_from, zone))
        used = True
    if filters.date_to:
        query = query.filter(created_at__lt=_start_of(filters.date_to + dt.timedelta(days=1), zone))
        used = True
    return query.values("id") if used else None


def _start_of(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def _handled(user_id: uuid.UUID) -> Any:
    return WorkflowAction.filter(actor_id=user_id, op__in=HANDLED).values("instance_id")


def _copies(user_id: uuid.UUID) -> Any:
    return _copy_actions(user_id).values("instance_id")


def _copy_actions(user_id: uuid.UUID) -> QuerySet[WorkflowAction]:
    """The actions whose facts copy (抄送) an approval to the user, found by the database:
    jsonb containment on PostgreSQL, json1 on SQLite."""
    user = str(uuid.UUID(str(user_id)))  # a canonical UUID: safe to write into the SQL
    if WorkflowAction._meta.db.capabilities.dialect == "postgres":
        return WorkflowAction.filter(facts__contains=[{"fact": "copied", "user": user}])
    sql = (
        "EXISTS (SELECT 1 FROM json_each(workflow_action.facts) AS f "  # noqa: S608
        "WHERE json_extract(f.value, '$.fact') = 'copied' "
        f"AND json_extract(f.value, '$.user') = '{user}')"
    )
    return WorkflowAction.annotate(copied_to=RawSQL(sql)).filter(copied_to=1)


async def _copy_nodes(user: str, instances: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """The copy node of each approval listed (the latest copy to the user), for one page."""
    if not instances:
        return {}
    found: dict[uuid.UUID, str | None] = {}
    actions = _copy_actions(uuid.UUID(user)).filter(instance_id__in=instances)
    for row in await actions.order_by("at").values("instance_id", "facts"):
        for fact in row["facts"] or []:
            if fact.get("fact") == "copied" and fact.get("user") == user:
                found[row["instance_id"]] = fact.get("node")
    return found


async def _items(rows: list[tuple[uuid.UUID, dict[str, Any]]]) -> list[Item]:
    ids = {instance for instance, _ in rows}
    if not ids:
        return []
    instances = {
        i["id"]: i
        for i in await WorkflowInstance.filter(id__in=ids).values(
            "id", "workflow_id", "record_id", "submitter_id", "status", "created_at"
        )
    }
    records = {
        r["id"]: r
        for r in await Record.filter(id__in={i["record_id"] for i in instances.values()}).values(
            "id", "form_id", "number"
        )
    }
    people = await names_of(i["submitter_id"] for i in instances.values())
    items = []
    for instance_id, extra in rows:
        inst = instances.get(instance_id)
        if inst is None:
            continue
        record = records.get(inst["record_id"], {})
        name, email = people.get(str(inst["submitter_id"]), ("", ""))
        items.append(
            Item(
                instance=str(instance_id),
                workflow_id=inst["workflow_id"],
                record_id=str(inst["record_id"]),
                form_id=record.get("form_id", ""),
                number=record.get("number"),
                submitter_id=str(inst["submitter_id"]),
                submitter=name,
                submitter_email=email,
                started=inst["created_at"],
                status=inst["status"],
                **extra,
            )
        )
    return items


async def names_of(user_ids: Iterable[Any]) -> dict[str, tuple[str, str]]:
    """User id (text) -> (name, e-mail), for the ids given."""
    wanted = {uuid.UUID(str(u)) for u in user_ids if _is_uuid(u)}
    if not wanted:
        return {}
    rows = await User.filter(id__in=wanted).values("id", "name", "email")
    return {str(r["id"]): (r["name"] or r["email"], r["email"]) for r in rows}


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
