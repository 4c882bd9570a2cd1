"""Read-only lists of approvals for one person: the inbox tabs of the staff pages.

- *mine* (待办): their live tasks (one row per task, open or waiting for someone first);
- *claimable* (待认领): group tasks they may claim — empty until the engine has pools;
- *done* (已办): approvals they decided or acted on, newest first;
- *copied* (抄送我的): approvals a copy node sent to them.

Everything runs inside the caller's tenant transaction; rows are plain data for the page.
The tabs read the task, action and instance tables only; the engine and store are not
touched (their writes are the only way these rows change).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tortoise.functions import Max

from danbao.db.models import Record, User, WorkflowAction, WorkflowInstance, WorkflowTask

Tab = Literal["mine", "claimable", "done", "copied"]
TABS: tuple[Tab, ...] = ("mine", "claimable", "done", "copied")

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


def pools_supported() -> bool:
    """The engine has claim (认领) now, but its claim tasks are listed under 待办 (kind
    ``claim``) until this tab lists them on its own: hidden meanwhile."""
    return False


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


async def tab_items(user_id: uuid.UUID, tab: Tab) -> list[Item]:
    """Every row of one tab, newest first (mine: oldest first, the order to work in)."""
    if tab == "mine":
        tasks = await WorkflowTask.filter(user_id=user_id).order_by("created_at")
        # One row per task: a person can hold two tasks in one approval (two parallel arms).
        rows = [
            (
                t.instance_id,
                {
                    "at": t.created_at,
                    "node": t.node_id,
                    "task": t.task_key,
                    "task_status": t.status,
                    "kind": t.kind,
                    "version": t.version,
                    "due_at": t.due_at,
                    "why": t.why,
                },
            )
            for t in tasks
        ]
        return await _items(rows)
    if tab == "claimable":
        return []
    if tab == "done":
        handled = (
            await WorkflowAction.filter(actor_id=user_id, op__in=HANDLED)
            .annotate(last=Max("at"))
            .group_by("instance_id")
            .values("instance_id", "last")
        )
        rows = [(r["instance_id"], {"at": r["last"]}) for r in handled]
        return sorted(await _items(rows), key=lambda i: i.at, reverse=True)
    copies = await _copied(str(user_id))
    return sorted(await _items(copies), key=lambda i: i.at, reverse=True)


async def _copied(user: str) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """(instance, {at, node}) of each copy to ``user``, the latest per approval."""
    actions = WorkflowAction.all()
    if WorkflowAction._meta.db.capabilities.dialect == "postgres":
        # jsonb containment on the facts list: served by the database, not by a scan here.
        actions = actions.filter(facts__contains=[{"fact": "copied", "user": user}])
    else:
        actions = actions.filter(op__not="comment")
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for row in await actions.order_by("at").values("instance_id", "at", "facts"):
        for fact in row["facts"] or []:
            if fact.get("fact") == "copied" and fact.get("user") == user:
                found[row["instance_id"]] = {"at": row["at"], "node": fact.get("node")}
    return list(found.items())


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


def apply_filters(
    items: list[Item], filters: Filters, now: dt.datetime, zone: dt.tzinfo
) -> list[Item]:
    """The rows that match every filter given (dates are the start date in ``zone``)."""
    needle = filters.submitter.strip().lower()
    kept = []
    for item in items:
        if filters.form and item.form_id != filters.form:
            continue
        if (
            needle
            and needle not in item.submitter.lower()
            and needle not in (item.submitter_email.lower())
        ):
            continue
        day = item.started.astimezone(zone).date()
        if filters.date_from and day < filters.date_from:
            continue
        if filters.date_to and day > filters.date_to:
            continue
        if filters.overdue and not item.overdue(now):
            continue
        kept.append(item)
    return kept
