"""Many approval actions in one request, each standing alone:

- batch approve (批量审批): the caller approves many of their tasks; every item carries its
  own idempotency key, runs in its own savepoint, and answers for itself (a refusal of one
  never undoes another);
- bulk reassignment (离职转办): an administrator moves every live task of one person to
  another, one action (and one audit event) per task, under keys derived from the request's
  Idempotency-Key, so repeating the request moves nothing twice.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise.transactions import in_transaction

from danbao.db.models import User, WorkflowAction, WorkflowTask
from danbao.guarantee.approval_link import ProjectDidNotFollow
from danbao.web.approvals_api import act_as, idempotency_key, instance_by_id
from danbao.web.errors import HttpError
from danbao.web.guards import read_json, require
from danbao.web.notify import deliver_later
from danbao.web.tenant_endpoint import caller_of, tenant_endpoint
from danbao.workflow import Action
from danbao.workflow.store import Answer, WorkflowError

MAX_ITEMS = 50
_ITEM_KEYS = {"instance", "task", "version", "comment", "key"}


def _bad(detail: str) -> HttpError:
    return HttpError(400, "bad_request", params={"detail": detail})


def _failure(error: WorkflowError | ProjectDidNotFollow) -> dict[str, Any]:
    return {"ok": False, "status": error.status, "code": error.code, "detail": error.message}


def _item(raw: Any, at: int) -> dict[str, Any]:
    where = f"/items/{at}"
    if not isinstance(raw, dict) or set(raw) - _ITEM_KEYS:
        raise _bad(f"{where}: {{instance, task, key, version?, comment?}}")
    for name in ("instance", "task", "key"):
        if not isinstance(raw.get(name), str) or not 0 < len(raw[name]) <= 100:
            raise _bad(f"{where}/{name}: text of 1-100 characters")
    version = raw.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise _bad(f"{where}/version: an integer")
    comment = raw.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 2000:
        raise _bad(f"{where}/comment: text")
    return {**raw, "comment": comment}


@tenant_endpoint()
async def approvals_batch(request: Request) -> Response:
    """
    summary: Approve many of my tasks at once; each item succeeds or fails on its own
    tags: [approvals]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [items]
            properties:
              items:
                type: array
                maxItems: 50
                items:
                  type: object
                  required: [instance, task, key]
                  properties:
                    instance: {type: string}
                    task: {type: string}
                    version: {type: integer}
                    comment: {type: string}
                    key: {type: string, description: this item's idempotency key}
    responses:
      200:
        description: >-
          {results: [{instance, task, ok, status, code?, detail?, instance_status?}],
          approved, failed}: a repeated key answers that item as before
      400: {description: "Malformed request, named by its pointer (/items/3/key)"}
    """
    user: User = caller_of(request).user
    body = await read_json(request)
    raw = body.get("items") if isinstance(body, dict) else None
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_ITEMS:
        raise _bad(f"/items: a list of 1-{MAX_ITEMS} items")
    items = [_item(one, at) for at, one in enumerate(raw)]
    results, answers = [], []
    for item in items:
        outcome: dict[str, Any] = {"instance": item["instance"], "task": item["task"]}
        instance = await instance_by_id(item["instance"])
        if instance is None or not await _takes_part(instance.id, user.id):
            # Missing, foreign and someone else's look the same.
            results.append({**outcome, "ok": False, "status": 404, "code": "not_found"})
            continue
        action = Action(
            "approve",
            str(user.id),
            task=item["task"],
            version=item.get("version"),
            comment=item["comment"],
        )
        try:
            async with in_transaction():  # a savepoint: one item's failure stays its own
                answer = await act_as(request, instance, action, item["key"])
        except (WorkflowError, ProjectDidNotFollow) as error:  # the savepoint rolled back
            results.append({**outcome, **_failure(error)})
            continue
        answers.append(answer)
        status = answer.body["instance"]["status"]
        results.append({**outcome, "ok": True, "status": 200, "instance_status": status})
    approved = sum(1 for r in results if r["ok"])
    summary = {"results": results, "approved": approved, "failed": len(results) - approved}
    return JSONResponse(summary, background=deliver_later(request, *answers))


async def _takes_part(instance_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """A task of theirs is there, or they acted on it (a repeated item finds its answer)."""
    if await WorkflowTask.filter(instance_id=instance_id, user_id=user_id).exists():
        return True
    return await WorkflowAction.filter(instance_id=instance_id, actor_id=user_id).exists()


def _task_key(request_key: str, task: WorkflowTask) -> str:
    # Within the 100 characters an action key may have, and the same on a repeat.
    digest = hashlib.sha256(request_key.encode()).hexdigest()[:32]
    return f"{digest}:{task.instance_id}:{task.task_key}"


@tenant_endpoint()
async def approvals_reassign(request: Request) -> Response:
    """
    summary: Move every live approval task of one person to another (离职转办)
    tags: [approvals]
    parameters:
      - {name: Idempotency-Key, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [from, to]
            properties:
              from: {type: string, description: the e-mail of the person leaving}
              to: {type: string, description: the e-mail of the person taking over}
              comment: {type: string}
    responses:
      200:
        description: >-
          {moved: [{instance, task, node}], failed: [{instance, task, status, code,
          detail}]}: one action and audit event per task moved
      403: {description: Needs admin:approvals update}
      422: {description: "Unknown or inactive people, named by pointer (/from, /to)"}
    """
    admin = await require(request, "admin:approvals", "update")
    key = idempotency_key(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise _bad("expected {from, to, comment?}")
    comment = body.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 2000:
        raise _bad("/comment: text")
    people: dict[str, User] = {}
    for name in ("from", "to"):
        value = body.get(name)
        found = (
            await User.filter(email=value.strip().lower()).first()
            if isinstance(value, str)
            else None
        )
        if found is None or (name == "to" and not found.is_active):
            detail = {"pointer": f"/{name}", "message": "no active user with this e-mail"}
            raise HttpError(422, "invalid", details=[detail])
        people[name] = found
    if people["from"].id == people["to"].id:
        detail = {"pointer": "/to", "message": "the same person"}
        raise HttpError(422, "invalid", details=[detail])
    tasks = await WorkflowTask.filter(user_id=people["from"].id).order_by("created_at", "id")
    moved, failed, answers = [], [], []
    for task in tasks:
        where = {"instance": str(task.instance_id), "task": task.task_key, "node": task.node_id}
        instance = await instance_by_id(task.instance_id)
        if instance is None:
            continue
        action = Action(
            "reassign",
            str(admin.id),
            task=task.task_key,
            to=str(people["to"].id),
            comment=comment,
            admin=True,
        )
        try:
            async with in_transaction():
                answer: Answer = await act_as(request, instance, action, _task_key(key, task))
        except WorkflowError as error:
            failed.append({**where, **_failure(error)})
            continue
        answers.append(answer)
        moved.append(where)
    return JSONResponse(
        {"moved": moved, "failed": failed}, background=deliver_later(request, *answers)
    )


ROUTES = [
    Route("/approvals/batch", approvals_batch, methods=["POST"]),
    Route("/approvals/reassign", approvals_reassign, methods=["POST"]),
]
