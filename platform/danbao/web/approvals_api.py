"""Approvals over HTTP: start one on a submitted record, the caller's inbox, one approval
with its history, and actions on it. Every unsafe call carries an ``Idempotency-Key``.

Thin, like the records API: authorise, find the record or instance through the scoped
access functions (missing and foreign are the same 404), call ``workflow.store``. Being
assigned a task is what lets a person act on it; the engine checks that.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.db.models import Record, User, WorkflowAction, WorkflowInstance, WorkflowTask
from danbao.definitions import Bundle
from danbao.definitions.versions import VersionNotFound, get_version
from danbao.guarantee.approval_link import ProjectDidNotFollow
from danbao.i18n import translate
from danbao.records.actions import SUBMITTED
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.sensitive import open_data
from danbao.web import approval_edits
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import read_json, require
from danbao.web.notify import deliver_later
from danbao.web.records_api import authorise, record_in_scope
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint
from danbao.workflow import Action
from danbao.workflow.engine import ADMIN_OPERATIONS
from danbao.workflow.simulate import simulate
from danbao.workflow.store import (
    Answer,
    Conflict,
    Repinned,
    WorkflowError,
    act_on,
    current,
    inbox,
    load_people,
    plan_of,
    start_instance,
)

_ACTION_KEYS = {
    "op", "task", "version", "comment", "to", "users", "position", "node", "data", "form"
}  # fmt: skip
_LIVE = ("running", "returned")
_MAX_USERS = 20


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key or len(key) > 100:
        detail = "send an Idempotency-Key header (1-100 characters)"
        raise HttpError(400, "bad_request", params={"detail": detail})
    return key


def refusal(request: Request, error: WorkflowError) -> Response:
    if isinstance(error, Conflict):
        # 409 with the instance as it is now, so the client can show the real state.
        message = translate(locale_of(request), "error.approval_conflict")
        body: dict[str, Any] = {
            "error": {"code": "approval_conflict", "message": message, "detail": error.message},
            "current": error.current,
        }
        return JSONResponse(body, status_code=409)
    raise HttpError(error.status, error.code, params={"detail": error.message})


def _sensitive(bundle: Bundle, form_id: str) -> frozenset[str]:
    try:
        return FormDefinition.from_bundle(bundle, form_id).sensitive_fields
    except FormNotFound:
        return frozenset()


@tenant_endpoint()
async def approval_start(request: Request) -> Response:
    """
    summary: Start the approval of a submitted record with its form's chain
    tags: [approvals]
    parameters:
      - {name: Idempotency-Key, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              workflow: {type: string, description: "the chain (default: the one for this form)"}
              choices:
                type: object
                description: "node id -> people (e-mails) the submitter picks"
    responses:
      201: {description: "{instance, facts}: the open tasks and why each person was chosen"}
      403: {description: Not allowed (needs form:<id> submit; only the submitter starts it)}
      404: {description: No such record in the caller's scope}
      409: {description: Not submitted, or an approval of it is already running}
      422: {description: Bad choices, or the chain cannot start}
    """
    ctx = await authorise(request, "submit")
    key = idempotency_key(request)
    body = await read_json(request) if await request.body() else {}
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected an object"})
    record = await record_in_scope(ctx, request, for_update=True)
    if record.created_by != ctx.user.id:
        raise HttpError(403, "forbidden")  # only the one who submitted it starts its approval
    if record.status != SUBMITTED:
        raise HttpError(409, "approval_conflict")
    workflow_id = body.get("workflow") or next(
        (w for w, chain in sorted(ctx.bundle.workflows.items()) if chain["form"] == record.form_id),
        None,
    )
    if not isinstance(workflow_id, str) or workflow_id not in ctx.bundle.workflows:
        raise HttpError(404, "not_found")
    choices = body.get("choices") or {}
    if not isinstance(choices, dict) or not all(
        isinstance(v, list) and all(isinstance(u, str) for u in v) for v in choices.values()
    ):
        raise HttpError(400, "bad_request", params={"detail": "choices: {node: [e-mail]}"})
    running = await WorkflowInstance.filter(record_id=record.id, status__in=_LIVE).exists()
    try:
        if running:
            repeat = await WorkflowAction.filter(actor_id=ctx.user.id, idempotency_key=key).exists()
            if not repeat:
                raise HttpError(409, "approval_conflict")
        answer = await start_instance(
            bundle=ctx.bundle,
            version=ctx.version,
            workflow_id=workflow_id,
            record_id=record.id,
            submitter_id=ctx.user.id,
            data=record.data,
            sensitive=ctx.form.sensitive_fields,
            choices=choices,
            idempotency_key=key,
        )
    except WorkflowError as error:
        return refusal(request, error)
    except ProjectDidNotFollow as failed:  # raised, so the whole action rolls back
        raise HttpError(failed.status, failed.code, params={"detail": failed.message}) from None
    return JSONResponse(answer.body, status_code=201, background=deliver_later(request, answer))


@tenant_endpoint()
async def approval_inbox(request: Request) -> Response:
    """
    summary: The caller's open and waiting approval tasks, oldest first
    tags: [approvals]
    responses:
      200:
        description: "{items: [{id, instance, task, node, kind, status, version, why, due_at}]}"
    """
    user: User = caller_of(request).user
    return JSONResponse({"items": await inbox(user.id)})


async def instance_from_path(request: Request) -> WorkflowInstance:
    instance = await instance_by_id(request.path_params["instance_id"])
    if instance is None:
        raise HttpError(404, "not_found")
    return instance


async def instance_by_id(text: object) -> WorkflowInstance | None:
    try:
        instance_id = uuid.UUID(str(text))
    except ValueError:
        return None
    return await WorkflowInstance.get_in_tenant(instance_id)


async def participant_or_404(request: Request, instance: WorkflowInstance) -> User:
    """The submitter, anyone with a task in it or who acted on it, a role that may read the
    chain, or an approvals administrator; everyone else gets the same 404 as for a missing
    approval."""
    user: User = caller_of(request).user
    if instance.submitter_id == user.id:
        return user
    # The row just read holds the live tasks (the task rows mirror them): most callers are
    # approvers acting on their own task, known without another query.
    me = str(user.id)
    if any(t.get("user") == me for t in (instance.state or {}).get("tasks", {}).values()):
        return user
    if await WorkflowTask.filter(instance_id=instance.id, user_id=user.id).exists():
        return user
    if await WorkflowAction.filter(instance_id=instance.id, actor_id=user.id).exists():
        return user
    active = await services_of(request).enforcer()
    if active and active[2].allowed(user.roles, f"workflow:{instance.workflow_id}", "read"):
        return user
    if active and active[2].allowed(user.roles, "admin:approvals", "read"):
        return user  # the administrator who may jump, terminate or reassign sees it first
    raise HttpError(404, "not_found")


@tenant_endpoint()
async def approval_show(request: Request) -> Response:
    """
    summary: One approval, its live tasks and its history with the reasons
    tags: [approvals]
    responses:
      200: {description: "{instance, history: [{revision, op, actor, at, facts}]}"}
      404: {description: No such approval, or not one the caller takes part in or may read}
    """
    instance = await instance_from_path(request)
    await participant_or_404(request, instance)
    view = await current(instance.id)
    log = await WorkflowAction.filter(instance_id=instance.id).order_by("revision", "at")
    history = [
        {
            "revision": a.revision,
            "op": a.op,
            "actor": str(a.actor_id),
            "task": a.task_key,
            "at": a.at.isoformat(),
            "facts": a.facts,
        }
        for a in log
    ]
    return JSONResponse({"instance": view, "history": history})


async def pinned_bundle(request: Request, instance: WorkflowInstance) -> Bundle:
    active = await services_of(request).enforcer()
    if active is not None and active[0] == instance.definition_version:
        return active[1]
    try:
        stored = await get_version(instance.definition_version)
    except VersionNotFound as exc:
        raise HttpError(404, "not_found") from exc
    return Bundle.from_published(stored.bundle)


def _action(body: Any, actor: uuid.UUID, *, admin: bool = False) -> Action:
    if not isinstance(body, dict) or not isinstance(body.get("op"), str):
        raise HttpError(400, "bad_request", params={"detail": "expected {op: ...}"})
    unknown = sorted(set(body) - _ACTION_KEYS)
    if unknown:
        raise HttpError(400, "bad_request", params={"detail": f"unknown key {unknown[0]!r}"})
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise HttpError(400, "bad_request", params={"detail": "version must be an integer"})
    users = body.get("users") or []
    if (
        not isinstance(users, list)
        or len(users) > _MAX_USERS
        or not all(isinstance(u, str) and len(u) <= 254 for u in users)
    ):
        detail = f"users: a list of at most {_MAX_USERS} e-mails"
        raise HttpError(400, "bad_request", params={"detail": detail})
    text = {k: body.get(k) for k in ("task", "comment", "to", "position", "node")}
    for name, value in text.items():
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            raise HttpError(400, "bad_request", params={"detail": f"{name}: text"})
    return Action(
        op=body["op"],
        actor=str(actor),
        task=text["task"],
        version=version,
        comment=text["comment"] or "",
        to=text["to"],
        users=tuple(users),
        position=text["position"],  # type: ignore[arg-type]
        node=text["node"],
        admin=admin,
    )


@tenant_endpoint()
async def approval_act(request: Request) -> Response:
    """
    summary: >-
      Act on an approval: approve, reject, abstain, return, transfer, delegate, resolve,
      add_signer, remove_signer, take_back, withdraw, resubmit, cancel, comment, claim,
      unclaim, urge; for administrators (admin:approvals update) jump, terminate, reassign
    tags: [approvals]
    parameters:
      - {name: Idempotency-Key, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [op]
            properties:
              op: {type: string}
              task: {type: string, description: the task key from the inbox or the instance}
              version: {type: integer, description: the task version seen; another gives 409}
              comment: {type: string}
              to:
                type: string
                description: >-
                  return: submitter, previous or a node; transfer, delegate, reassign: e-mail
              users: {type: array, items: {type: string}, description: add_signer and remove_signer}
              position: {enum: [before, after, alongside]}
              node: {type: string, description: "take_back: the node taken back; jump: the target"}
              data:
                type: object
                description: >-
                  approve: new values of the node's write fields (a merge patch; null
                  clears), checked like a record save and saved with the approval
              form:
                type: array
                items: {type: array, items: {type: string}, minItems: 2, maxItems: 2}
                description: "approve: the write fields as [name, value] pairs a page's form posts"
    responses:
      200: {description: "{instance, facts}; a repeat of the same key answers the same"}
      403: {description: Someone else's task}
      404: {description: No such approval, or not one the caller takes part in}
      409:
        description: >-
          Already handled, finished, or a stale version: {error, current}; or
          approval_project_refused: the action would end the chain but its guarantee
          project cannot take the decision (nothing is applied)
      422:
        description: >-
          Not allowed here, comment required, bad target, key used for another request, or
          record changes that are invalid or touch a field not writable at this node
          ({error: {details: [{pointer, message}]}})
      429: {description: "urge: every task named was urged within the hour"}
    """
    instance = await instance_from_path(request)
    body = await read_json(request)
    admin = isinstance(body, dict) and body.get("op") in ADMIN_OPERATIONS
    if admin:
        user = await require(request, "admin:approvals", "update")
    else:
        user = await participant_or_404(request, instance)
    key = idempotency_key(request)
    action = _action(body, user.id, admin=admin)
    changes = approval_edits.changes_of(body)
    if changes is not None and action.op not in approval_edits.EDITING_OPS:
        detail = f"{action.op} carries no record changes (data, form: approve only)"
        raise HttpError(400, "bad_request", params={"detail": detail})
    try:
        answer = await act_as(request, instance, action, key, changes=changes, user=user)
    except WorkflowError as error:
        return refusal(request, error)
    except ProjectDidNotFollow as failed:  # raised, so the whole action rolls back
        raise HttpError(failed.status, failed.code, params={"detail": failed.message}) from None
    return JSONResponse(answer.body, background=deliver_later(request, answer))


async def act_as(
    request: Request,
    instance: WorkflowInstance,
    action: Action,
    key: str,
    *,
    changes: dict[str, Any] | None = None,
    user: User | None = None,
) -> Answer:
    """Apply ``action`` with the chain version the instance is pinned to and the record's
    data as it is now (raises :class:`WorkflowError` on a refusal); ``changes``: the
    node's write fields sent with it, written in the same transaction
    (``approval_edits``). An approval moved to a newer version while the action waited
    for its row lock (``Repinned``) is acted on again with the version it is on now."""
    record = await Record.get_in_tenant(instance.record_id)
    if record is None:
        raise HttpError(404, "not_found")
    keys = services_of(request).keys
    data = await open_data(keys, record.form_id, record.data)
    for attempt in (1, 2):
        bundle = await pinned_bundle(request, instance)
        amend = None
        if changes is not None and user is not None:
            active = await services_of(request).enforcer()
            try:
                form = FormDefinition.from_bundle(bundle, record.form_id)
            except FormNotFound as exc:
                raise HttpError(404, "not_found") from exc
            if active is None:
                raise HttpError(404, "not_found")
            amend = approval_edits.amender(
                instance=instance,
                user=user,
                form=form,
                enforcer=active[2],
                nodes=plan_of(bundle.workflows[instance.workflow_id]).node,
                changes=changes,
                keys=keys,
                locale=locale_of(request),
            )
        try:
            return await act_on(
                instance.id,
                action,
                bundle=bundle,
                data=data,
                sensitive=_sensitive(bundle, record.form_id),
                idempotency_key=key,
                changes=changes,
                amend=amend,
            )
        except Repinned:
            # The task's version still guards everything else (a kept task keeps it).
            moved = await WorkflowInstance.get_in_tenant(instance.id)
            if attempt == 2 or moved is None:
                raise
            instance = moved
    raise AssertionError("unreachable")


@tenant_endpoint()
async def approval_simulate(request: Request) -> Response:
    """
    summary: "Who would approve this, and through which route? (nothing is stored)"
    tags: [approvals]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [data]
            properties:
              workflow: {type: string, description: "the chain (default: the first)"}
              data: {type: object, description: "the record's fields, e.g. amount"}
              department: {type: string, description: a made-up submitter's department}
              roles: {type: array, items: {type: string}}
              submitter: {type: string, description: "or a real user's e-mail"}
    responses:
      200: {description: "{status, route: [rule, values, result], nodes: [assigned, excluded]}"}
      400: {description: Malformed request}
      403: {description: Not allowed (needs admin:definitions read)}
      404: {description: No such chain or user}
    """
    await require(request, "admin:definitions", "read")
    active = await services_of(request).enforcer()
    body = await read_json(request)
    if active is None or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise HttpError(400, "bad_request", params={"detail": "expected {data: {...}}"})
    bundle = active[1]
    workflow_id = body.get("workflow") or min(bundle.workflows, default=None)
    if not isinstance(workflow_id, str) or workflow_id not in bundle.workflows:
        raise HttpError(404, "not_found")
    roles = body.get("roles") or []
    for name in ("department", "submitter"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise HttpError(400, "bad_request", params={"detail": f"{name}: text"})
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise HttpError(400, "bad_request", params={"detail": "roles: a list of role ids"})
    people = await load_people(bundle)
    submitter = None
    if body.get("submitter"):
        person = people.by_key(body["submitter"])
        if person is None:
            raise HttpError(404, "not_found")
        submitter = person.id
    plan = plan_of(bundle.workflows[workflow_id])
    result = simulate(
        plan,
        people,
        body["data"],
        department=body.get("department"),
        roles=roles,
        submitter=submitter,
        sensitive=_sensitive(bundle, plan.form_id),
    )
    return JSONResponse(result.to_json())


ROUTES = [
    Route("/approvals/simulate", approval_simulate, methods=["POST"]),
    Route("/forms/{form_id}/records/{record_id}/approval", approval_start, methods=["POST"]),
    Route("/approvals/inbox", approval_inbox, methods=["GET"]),
    Route("/approvals/{instance_id}", approval_show, methods=["GET"]),
    Route("/approvals/{instance_id}/actions", approval_act, methods=["POST"]),
]
