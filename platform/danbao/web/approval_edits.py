"""A node's write fields (``fields: {key: "write"}``) changed with an approval.

An approver who approves at a node that marks fields ``write`` may send new values for
those fields with the action: ``data`` (a JSON merge patch, as the records API takes) or
``form`` (the name/value pairs the generated form widgets post, typed exactly as the
record page types them). The values are checked like a record save and then like a
submission (the whole form must stay valid), and written in the action's transaction
after the engine has accepted the action, so a refused action leaves the record as it
was and a repeated idempotency key writes nothing again (``workflow.store.act_on``).

What is writable: the node's ``write`` fields the caller can see (not hidden or masked
for them), for the holder of a decide, before or after task; everything else is
read-only there. Writing a field outside that set is a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.datastructures import FormData

from danbao.authz.enforcer import TenantEnforcer
from danbao.authz.fields import FieldRule, FieldRules, least_permissive
from danbao.db.models import Record, User, WorkflowInstance
from danbao.records import actions
from danbao.records.definition import FormDefinition
from danbao.records.messages import field_message
from danbao.records.sensitive import open_record
from danbao.records.validation import FieldError, pointer_of
from danbao.web.errors import HttpError
from danbao.web.form_pages import data_from_form
from danbao.workflow.plan import Node
from danbao.workflow.state import Task

EDITING_KINDS = ("decide", "before", "after")
"""Tasks whose holder approves at the node (a claim is claimed first, a delegate resolves)."""
EDITING_OPS = ("approve",)
"""The operations that may carry record changes: approving (at a handle node: done)."""
_SEES = (FieldRule.READONLY, FieldRule.WRITABLE)


def write_fields(node: Node | None) -> frozenset[str]:
    if node is None:
        return frozenset()
    return frozenset(k for k, v in node.fields.items() if v == "write")


def edit_rules(base: FieldRules, node: Node | None, kind: str | None) -> FieldRules:
    """The caller's rules at this step: the node's ``write`` fields they can see are
    writable (for a task that approves here), everything else at most read-only, and the
    node's ``hidden`` / ``read`` narrow further. A node never reveals a hidden or masked
    field."""
    writable = write_fields(node) if kind in EDITING_KINDS else frozenset()
    permissions = dict(node.fields) if node is not None else {}
    rules: dict[str, FieldRule] = {}
    for key in set(base) | set(permissions):
        rule = least_permissive(base.rule(key), FieldRule.READONLY)
        if permissions.get(key) == "hidden":
            rule = FieldRule.HIDDEN
        elif key in writable and base.rule(key) in _SEES:
            rule = FieldRule.WRITABLE
        rules[key] = rule
    return FieldRules(rules, least_permissive(base.default, FieldRule.READONLY))


def participant_rules(enforcer: TenantEnforcer, user: User, form: FormDefinition) -> FieldRules:
    """A participant's rules on the record: their roles' rules where the roles may read
    the form; otherwise (an approver by assignment only) read-only, sensitive fields masked."""
    rules = enforcer.field_rules(user.roles, form.form_id)
    if rules.default != FieldRule.HIDDEN or any(r != FieldRule.HIDDEN for r in rules.values()):
        return rules
    masked = {key: FieldRule.MASKED for key in form.sensitive_fields}
    return FieldRules(masked, FieldRule.READONLY)


def changes_of(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record changes an action body carries (``data`` or ``form``), checked for
    shape only; None when it carries none."""
    data, pairs = body.get("data"), body.get("form")
    if data is None and pairs is None:
        return None
    if data is not None and pairs is not None:
        raise HttpError(400, "bad_request", params={"detail": "send data or form, not both"})
    if data is not None:
        if not isinstance(data, dict):
            raise HttpError(400, "bad_request", params={"detail": "data: an object"})
        return {"data": data}
    if (
        not isinstance(pairs, list)
        or len(pairs) > 2000
        or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p)
            for p in pairs
        )
    ):
        raise HttpError(400, "bad_request", params={"detail": "form: [[name, value], ...]"})
    return {"form": pairs}


def _patch(
    form: FormDefinition, changes: Mapping[str, Any], rules: FieldRules, existing: dict[str, Any]
) -> dict[str, Any]:
    if "form" in changes:
        posted = FormData([(name, value) for name, value in changes["form"]])
        return data_from_form(form, posted, rules, existing=existing)
    return dict(changes["data"])


def amender(
    *,
    instance: WorkflowInstance,
    user: User,
    form: FormDefinition,
    enforcer: TenantEnforcer,
    nodes: Callable[[str], Node],
    changes: Mapping[str, Any],
    keys: Any,
    locale: str,
) -> Callable[[Task], Awaitable[Mapping[str, Any]]]:
    """The hook ``act_on`` calls once the engine has accepted the action: lock the record,
    check and write the changes, answer the data the engine then decides on."""

    async def amend(task: Task) -> Mapping[str, Any]:
        node = nodes(task.node)
        record = await Record.filter(id=instance.record_id).select_for_update().first()
        if record is None:
            raise HttpError(404, "not_found")
        await open_record(keys, record)
        rules = edit_rules(participant_rules(enforcer, user, form), node, task.kind)
        patch = _patch(form, changes, rules, record.data)
        refused = [
            FieldError(
                pointer_of([key]), field_message("not_writable", locale, form.label(key, locale))
            )
            for key in sorted(patch)
            if rules.rule(key) != FieldRule.WRITABLE
        ]
        if refused:
            raise HttpError(422, "invalid", details=[e.as_json() for e in refused])
        try:
            record = await actions.amend_submitted(
                record,
                form,
                patch,
                rules=rules,
                locale=locale,
                keys=keys,
                user_id=user.id,
                context={"approval": str(instance.id), "node": task.node, "task": task.id},
            )
        except actions.RecordInvalid as invalid:
            raise HttpError(422, "invalid", details=[e.as_json() for e in invalid.errors]) from None
        except actions.NotADraft:
            raise HttpError(409, "conflict") from None
        return dict(record.data)

    return amend
