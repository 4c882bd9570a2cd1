"""Persisting approvals: one instance row pinned to its plan, one row per live task, one
action-log row per action under its idempotency key, one audit event per step.

Every function runs inside the caller's tenant transaction. An action first looks for
its idempotency key (a repeat answers the stored result), then locks the instance row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers anyway), looks again
(a duplicate that waited on the lock finds the first one's answer), applies the pure
transition and writes the new state, the task rows and the log. A refusal raises before
anything is written, so the state is never half-changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cachetools import LRUCache

from danbao.audit import record_event
from danbao.db.models import User, WorkflowAction, WorkflowInstance, WorkflowTask
from danbao.definitions import Bundle
from danbao.workdays import Clock, SystemClock, WorkCalendar

from . import notices, proxies, timers
from .engine import Action, Effects, Env, Refused, Result, act, start
from .people import People, Person
from .plan import Plan, compile_plan, plan_hash
from .state import State, Task

_PLANS: LRUCache[str, Plan] = LRUCache(maxsize=512)
Amend = Callable[[Task], Awaitable[Mapping[str, Any]]]
"""Writes an action's record changes for the task it acts on; answers the new data."""
URGE_INTERVAL = dt.timedelta(hours=1)
"""A task is urged at most once an hour (催办 must not become spam)."""


class WorkflowError(Exception):
    """Base of the refusals below; ``status`` is the HTTP answer the web layer gives."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.current = current


class NotFound(WorkflowError):
    status, code = 404, "not_found"


class Conflict(WorkflowError):
    """Stale version or already handled: 409 with the instance as it is now."""

    status, code = 409, "conflict"


class Repinned(Conflict):
    """The approval was moved to another version (see ``migrations``) while the action
    was on its way: the caller loads that version and tries again."""


class Forbidden(WorkflowError):
    status, code = 403, "forbidden"


class KeyReused(WorkflowError):
    status, code = 422, "idempotency_key_reused"


class ActionInvalid(WorkflowError):
    status, code = 422, "invalid_action"


class TooSoon(WorkflowError):
    status, code = 429, "too_soon"


_STATUS_OF: dict[str, type[WorkflowError]] = {
    "finished": Conflict,
    "unknown_task": Conflict,
    "stale": Conflict,
    "not_yours": Forbidden,
    "too_soon": TooSoon,
}


def plan_of(workflow: Mapping[str, Any]) -> Plan:
    """The compiled plan of a workflow file, shared by every version with the same chain."""
    key = plan_hash(workflow)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = compile_plan(workflow)
    return plan


async def load_people(bundle: Bundle, clock: Clock | None = None) -> People:
    """The tenant's active users, the bundle's departments and the proxies in force today,
    for assignee resolution."""
    rows = await User.filter(is_active=True).values("id", "email", "name", "roles", "department")
    persons = (
        Person(str(r["id"]), r["email"], r["name"], frozenset(r["roles"] or ()), r["department"])
        for r in rows
    )
    standing = await proxies.active(proxies.today(clock))
    return People.build(persons, bundle.permissions.get("departments", ()), standing)


@dataclass(frozen=True)
class Answer:
    """What an action answers (and what a repeat of its key answers again); ``notices``:
    the notifications this very call wrote for a messaging plug-in to send (none on a
    repeat, so nothing is sent twice)."""

    body: dict[str, Any]
    notices: tuple[str, ...] = ()

    @property
    def instance_id(self) -> str:
        return str(self.body["instance"]["id"])


async def start_instance(
    *,
    bundle: Bundle,
    version: int,
    workflow_id: str,
    record_id: uuid.UUID,
    submitter_id: uuid.UUID,
    data: Mapping[str, Any],
    sensitive: frozenset[str] = frozenset(),
    choices: Mapping[str, Sequence[str]] | None = None,
    idempotency_key: str,
    clock: Clock | None = None,
) -> Answer:
    """Start an approval of a record with the chain of the given (pinned) version."""
    request = {"op": "start", "workflow": workflow_id, "record": str(record_id), "choices": choices}
    repeat = await _repeat(submitter_id, idempotency_key, request)
    if repeat is not None:
        return repeat
    if workflow_id not in bundle.workflows:
        raise NotFound(f"no approval chain {workflow_id!r}")
    plan = plan_of(bundle.workflows[workflow_id])
    env = Env(plan, await load_people(bundle, clock), data, sensitive)
    try:
        result = start(env, str(submitter_id), choices)
    except Refused as exc:
        raise ActionInvalid(exc.message) from None
    instance = await WorkflowInstance.create(
        workflow_id=workflow_id,
        definition_version=version,
        plan_hash=plan.hash,
        record_id=record_id,
        submitter_id=submitter_id,
        status=result.state.status,
        state=result.state,  # the column encodes the State itself (db/models.py)
        revision=1,
        finished_at=_now(clock) if result.state.status != "running" else None,
    )
    return await _persist(
        instance, plan, bundle, result, "start", submitter_id, None, idempotency_key, request, clock
    )


async def act_on(
    instance_id: uuid.UUID,
    action: Action,
    *,
    bundle: Bundle,
    data: Mapping[str, Any],
    sensitive: frozenset[str] = frozenset(),
    idempotency_key: str,
    clock: Clock | None = None,
    changes: Mapping[str, Any] | None = None,
    amend: Amend | None = None,
) -> Answer:
    """Apply one action; ``bundle`` is the definition version the instance is pinned to.

    ``changes`` (record changes sent with the action) are part of the request a repeated
    key must match; ``amend`` writes them once the engine has accepted the action (never
    on a repeat) and answers the record data the action is then decided on."""
    actor = uuid.UUID(action.actor)
    request = {k: v for k, v in vars(action).items() if k != "actor"}
    request["users"] = list(action.users)
    request["instance"] = str(instance_id)
    if changes is not None:
        request["changes"] = changes
    repeat = await _repeat(actor, idempotency_key, request)
    if repeat is not None:
        return repeat
    instance = await WorkflowInstance.filter(id=instance_id).select_for_update().first()
    if instance is None:
        raise NotFound("no such approval")
    repeat = await _repeat(actor, idempotency_key, request)  # a twin that waited on the lock
    if repeat is not None:
        return repeat
    plan = plan_of(bundle.workflows[instance.workflow_id])
    if plan.hash != instance.plan_hash:
        raise Repinned("the approval is pinned to another version of its chain")
    state = State.from_json(instance.state)
    cooling: frozenset[str] = frozenset()
    if action.op == "urge":
        since = _now(clock) - URGE_INTERVAL
        urged = WorkflowTask.filter(instance_id=instance.id, urged_at__gt=since)
        cooling = frozenset(await urged.values_list("task_key", flat=True))  # type: ignore[arg-type]
    env = Env(plan, await load_people(bundle, clock), data, sensitive, cooling)
    # The task as it was before acting in place, for the record changes (``amend``).
    seen = state.tasks.get(action.task or "") if amend is not None else None
    task = replace(seen) if seen is not None else None
    try:
        result = act(env, state, action, in_place=True)  # the row's JSON stays as read
    except Refused as exc:
        error = _STATUS_OF.get(exc.code, ActionInvalid)
        current = _view(instance, State.from_json(instance.state)) if error is Conflict else None
        raise error(exc.message, current) from None
    if amend is not None and task is not None:
        # Accepted: write the record changes, then decide again, from the state as read,
        # on the data as written (a route after this node may read a field just changed).
        env = replace(env, data=await amend(task))
        try:
            result = act(env, State.from_json(instance.state), action, in_place=True)
        except Refused as exc:
            raise ActionInvalid(exc.message) from None
    instance.revision += 1
    # The column encodes the State itself, as its JSON (db/models.py): no dict built per action.
    instance.state = result.state
    instance.status = result.state.status
    if result.state.status not in ("running", "returned"):
        instance.finished_at = _now(clock)
    await WorkflowInstance.filter(id=instance.id).update(
        state=instance.state,
        status=instance.status,
        revision=instance.revision,
        finished_at=instance.finished_at,
        updated_at=_now(clock),
    )
    return await _persist(
        instance,
        plan,
        bundle,
        result,
        action.op,
        actor,
        action.task,
        idempotency_key,
        request,
        clock,
    )


async def current(instance_id: uuid.UUID) -> dict[str, Any]:
    """The instance as the API shows it (404 for missing and foreign alike)."""
    instance = await WorkflowInstance.get_in_tenant(instance_id)
    if instance is None:
        raise NotFound("no such approval")
    return _view(instance, State.from_json(instance.state))


async def inbox(user_id: uuid.UUID, limit: int = 100) -> list[dict[str, Any]]:
    """The user's open and waiting tasks, oldest first."""
    rows = await WorkflowTask.filter(user_id=user_id).order_by("created_at").limit(limit)
    return [_task_row(row) for row in rows]


async def _repeat(actor: uuid.UUID, key: str, request: dict[str, Any]) -> Answer | None:
    if not key or len(key) > 100:
        raise ActionInvalid("every action needs an idempotency key of at most 100 characters")
    stored = await WorkflowAction.filter(actor_id=actor, idempotency_key=key).first()
    if stored is None:
        return None
    if stored.request_hash != _request_hash(request):
        raise KeyReused("this idempotency key was used for a different request")
    return Answer(stored.result)


async def _persist(
    instance: WorkflowInstance,
    plan: Plan,
    bundle: Bundle,
    result: Result,
    op: str,
    actor: uuid.UUID,
    task_key: str | None,
    key: str,
    request: dict[str, Any],
    clock: Clock | None,
) -> Answer:
    effects = result.effects
    await _apply_tasks(instance, plan, bundle, effects, clock)
    await timers.follow(instance, plan, bundle.tenant, effects, _now(clock))
    written = await notices.write(
        instance,
        notices.notices_of(plan, result, str(actor), str(instance.submitter_id)),
    )
    body = {
        "instance": _view(instance, result.state),
        "facts": effects.facts,
        "copies": effects.copies,
        "triggers": effects.triggers,
    }
    body = json.loads(json.dumps(body, default=str))
    await WorkflowAction.create(
        instance_id=instance.id,
        actor_id=actor,
        idempotency_key=key,
        request_hash=_request_hash(request),
        op=op,
        task_key=task_key,
        revision=instance.revision,
        result=body,
        facts=body["facts"],
    )
    await record_event(
        f"workflow.{op}",
        "workflow_instance",
        str(instance.id),
        {
            "workflow": instance.workflow_id,
            "plan": instance.plan_hash,
            "revision": instance.revision,
            "task": task_key,
            "status": instance.status,
            "facts": body["facts"],
        },
    )
    if instance.status in ("approved", "rejected"):  # finished by this action
        from danbao.guarantee import approval_link  # the layer above: imported late

        await approval_link.follow(instance, bundle.tenant, actor)
    return Answer(body, tuple(written))


async def _apply_tasks(
    instance: WorkflowInstance, plan: Plan, bundle: Bundle, effects: Effects, clock: Clock | None
) -> None:
    closed = [task.id for task, _ in effects.closed]
    if closed:
        await WorkflowTask.filter(instance_id=instance.id, task_key__in=closed).delete()
    for task in effects.changed:
        # Claimed (kind), reassigned (user, why), delegated or opened again (status).
        await WorkflowTask.filter(instance_id=instance.id, task_key=task.id).update(
            status=task.status,
            version=task.version,
            kind=task.kind,
            user_id=uuid.UUID(task.user),
            why=task.why[:200],
        )
    if effects.urged:
        urged = [task.id for task in effects.urged]
        await WorkflowTask.filter(instance_id=instance.id, task_key__in=urged).update(
            urged_at=_now(clock)
        )
    if not effects.opened:
        return
    calendar = WorkCalendar.from_tenant(bundle.tenant)
    now = _now(clock)
    rows = []
    for task in effects.opened:
        sla = plan.node(task.node).sla
        rows.append(
            WorkflowTask(
                tenant_id=instance.tenant_id,
                instance_id=instance.id,
                task_key=task.id,
                node_id=task.node,
                user_id=uuid.UUID(task.user),
                kind=task.kind,
                status=task.status,
                version=task.version,
                why=task.why[:200],
                due_at=calendar.due(now, sla.due, workdays=sla.workdays) if sla else None,
            )
        )
    await WorkflowTask.bulk_create(rows)


def _view(instance: WorkflowInstance, state: State) -> dict[str, Any]:
    return {
        "id": str(instance.id),
        "workflow": instance.workflow_id,
        "definition_version": instance.definition_version,
        "plan": instance.plan_hash,
        "record": str(instance.record_id),
        "status": state.status,
        "revision": instance.revision,
        "tasks": [_task_view(t) for t in sorted(state.tasks.values(), key=lambda t: t.id)],
    }


def _task_view(task: Task) -> dict[str, Any]:
    return {
        "task": task.id,
        "node": task.node,
        "user": task.user,
        "kind": task.kind,
        "status": task.status,
        "version": task.version,
    }


def _task_row(row: WorkflowTask) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "instance": str(row.instance_id),
        "task": row.task_key,
        "node": row.node_id,
        "kind": row.kind,
        "status": row.status,
        "version": row.version,
        "why": row.why,
        "due_at": row.due_at.isoformat() if row.due_at else None,
    }


def _request_hash(request: dict[str, Any]) -> str:
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _now(clock: Clock | None) -> dt.datetime:
    return (clock or SystemClock()).now()
