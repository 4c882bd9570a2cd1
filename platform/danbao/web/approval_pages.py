"""Staff pages of approvals: the task inbox ``/t/{slug}/inbox`` and one approval
``/t/{slug}/approvals/{id}``.

Read-only here: the approval page's buttons post to the approvals API (``approvals_api``)
from ``static/approval.js``, with an Idempotency-Key made for this page load and the task
version shown, so a double click has one effect and a stale page gets a clear 409.

Who may open an approval is exactly what the API says
(``approvals_api.participant_or_404``): the submitter, its participants, or a role that may
read the chain; anyone else gets 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import apply_field_rules
from danbao.db.models import Record, User, WorkflowAction, WorkflowTask
from danbao.definitions import Bundle
from danbao.i18n import translate
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.sensitive import open_data
from danbao.web.approval_edits import edit_rules, participant_rules, write_fields
from danbao.web.approvals_api import instance_from_path, participant_or_404, pinned_bundle
from danbao.web.errors import HttpError, locale_of
from danbao.web.form_pages import build_sections
from danbao.web.pickers import choices_for
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, services_of, tenant_endpoint
from danbao.workflow.listing import (
    PER_PAGE,
    TABS,
    Filters,
    Item,
    Tab,
    names_of,
    tab_counts,
    tab_page,
)
from danbao.workflow.plan import Node, Plan
from danbao.workflow.state import Run, State, Task
from danbao.workflow.store import plan_of
from danbao.workflow.timeouts import SYSTEM

CHINA = ZoneInfo("Asia/Shanghai")
_TASK_TABS = ("mine", "claimable")
_DECIDING = ("return", "transfer", "delegate", "add_signer", "remove_signer")
_FACTS_SHOWN = frozenset(
    {
        "started",
        "assigned",
        "excluded",
        "routed",
        "auto",
        "decided",
        "passed",
        "empty",
        "copied",
        "returned",
        "resubmitted",
        "transfer",
        "delegate",
        "resolve",
        "add_signer",
        "remove_signer",
        "take_back",
        "comment",
        "triggered",
        "finished",
        "quorum_unreachable",
        "timeout",
        "reassign",
        "offered",
        "claim",
        "unclaim",
        "urge",
        "proxied",
    }
)


# Decisions whose fact carries the approver's opinion (审批意见), shown on the step itself.
_OPINION_FACTS = frozenset({"approve", "reject", "abstain", "return"})


def _opinion_of(facts: list[dict[str, Any]]) -> str:
    return next(
        (str(f["comment"]) for f in facts if f.get("fact") in _OPINION_FACTS and f.get("comment")),
        "",
    )


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


def _csrf(request: Request) -> str:
    auth = caller_of(request).auth
    return auth.session.csrf_token if auth and auth.session else ""


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value else ""


def _date(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


async def open_task_count(user: User) -> int:
    """For the home page: how many tasks wait for the user (待办 and 待认领)."""
    return await WorkflowTask.filter(user_id=user.id).count()


# ---------------------------------------------------------------- the inbox


@tenant_endpoint()
async def inbox_page(request: Request) -> Response:
    user: User = caller_of(request).user
    locale = locale_of(request)
    q = request.query_params
    tab: Tab = next((t for t in TABS if t == q.get("tab")), "mine")
    filters = Filters(
        form=q.get("form", "")[:63],
        submitter=q.get("submitter", "")[:100],
        date_from=_date(q.get("from")),
        date_to=_date(q.get("to")),
        overdue=q.get("overdue") == "on" and tab in _TASK_TABS,
    )
    try:
        page = max(1, min(int(q.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    now = dt.datetime.now(dt.UTC)
    counts = await tab_counts(user.id)
    items, total = await tab_page(user.id, tab, filters, now=now, zone=CHINA, page=page)
    pages = max(1, -(-total // PER_PAGE))
    if page > pages:  # past the end (the list shrank): show the last page
        page = pages
        items, total = await tab_page(user.id, tab, filters, now=now, zone=CHINA, page=page)
    active = await services_of(request).enforcer()
    bundle = active[1] if active else None
    rows = [_row(request, item, bundle, locale, now) for item in items]
    # The forms that have an approval chain: the form filter's choices.
    chained = {chain.get("form") for chain in (bundle.workflows.values() if bundle else ())}
    forms = sorted((f, _form_title(bundle, f, locale)) for f in chained if isinstance(f, str))
    query = {
        k: v
        for k, v in {
            "tab": tab,
            "form": filters.form,
            "submitter": filters.submitter,
            "from": q.get("from", "") if filters.date_from else "",
            "to": q.get("to", "") if filters.date_to else "",
            "overdue": "on" if filters.overdue else "",
        }.items()
        if v
    }
    return render(
        request,
        "approvals/inbox.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "tabs": [(t, counts[t]) for t in TABS],
            "tab": tab,
            "task_tab": tab in _TASK_TABS,
            "rows": rows,
            "total": total,
            "filters": filters,
            "filter_from": q.get("from", "") if filters.date_from else "",
            "filter_to": q.get("to", "") if filters.date_to else "",
            "forms": forms,
            "page": page,
            "pages": pages,
            "query": query,
        },
    )


def _form_title(bundle: Bundle | None, form_id: str, locale: str) -> str:
    form = (bundle.forms.get(form_id) if bundle else None) or {}
    title = form.get("title")
    if isinstance(title, dict):
        return str(title.get(locale) or title.get("zh-CN") or form_id)
    return str(title or form_id)


def _label(value: Any, locale: str, fallback: str = "") -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh-CN") or fallback)
    return str(value or fallback)


def _row(
    request: Request, item: Item, bundle: Bundle | None, locale: str, now: dt.datetime
) -> dict[str, Any]:
    chain = (bundle.workflows.get(item.workflow_id) if bundle else None) or {}
    nodes = {n["id"]: n for n in chain.get("nodes", [])}
    node = nodes.get(item.node or "", {})
    return {
        "url": f"{_base(request)}/approvals/{item.instance}",
        "number": item.number,
        "form": _form_title(bundle, item.form_id, locale),
        "chain": _label(chain.get("name"), locale, item.workflow_id),
        "node": _label(node.get("name"), locale, item.node or ""),
        "submitter": item.submitter,
        "started": _when(item.started),
        "at": _when(item.at),
        "status": item.status,
        "task_status": item.task_status,
        "kind": item.kind,
        "due": _when(item.due_at),
        "overdue": item.overdue(now),
    }


# ---------------------------------------------------------------- one approval


def task_buttons(node: Node, task: Task, run: Run | None = None) -> list[str]:
    """The operations the caller's task offers at this node (what the engine accepts):
    a pool's task is claimed first (认领); the claimer may give it back while untouched."""
    if task.status != "open":
        return []
    if task.kind == "claim":
        return ["claim"]
    if task.kind == "delegate":
        return ["resolve"]
    ops = ["approve"]
    if node.type != "handle":
        ops.append("reject")
    if node.mode == "vote" and task.kind == "decide":
        ops.append("abstain")
    if task.kind == "decide":
        ops += [op for op in _DECIDING if node.allows(op)]
        if run is not None and run.pool and len(run.seats) == 1 and run.untouched():
            ops.append("unclaim")
    return ops


def submitter_buttons(state: State, me: str) -> list[str]:
    if state.submitter != me:
        return []
    ops = []
    if (
        state.status == "running"
        and not state.trail
        and all(r.untouched() for r in state.runs.values())
    ):
        ops.append("withdraw")
    if state.status == "returned":
        ops.append("resubmit")
    if state.status == "running" and any(t.status == "open" for t in state.tasks.values()):
        ops.append("urge")  # 催办: every open task; the server keeps it to once an hour each
    if state.status in ("running", "returned"):
        ops.append("cancel")
    return ops


def take_back_nodes(state: State, me: str) -> list[str]:
    """Nodes the caller decided last whose next step nobody has touched yet."""
    if state.status != "running":
        return []
    found = []
    for token in state.tokens.values():
        run = state.runs.get(token.run or "")
        if token.back and token.back.get("actor") == me and run is not None and run.untouched():
            found.append(str(token.back["node"]))
    return found


def return_targets(plan: Plan, state: State, node: Node) -> list[str]:
    """Where a return may go: the submitter, the previous node, a node passed earlier."""
    earlier = [
        s.node
        for s in state.trail
        if s.node != node.id and s.node in plan.nodes and plan.node(s.node).is_approval
    ]
    return ["submitter", "previous", *dict.fromkeys(earlier)]


def _node_name(plan: Plan, node_id: str | None, locale: str) -> str:
    if not node_id or node_id not in plan.nodes:
        return node_id or ""
    return _label(_raw_name(plan, node_id), locale, node_id)


def _raw_name(plan: Plan, node_id: str) -> Any:
    return plan.node(node_id).name or node_id


def describe(
    fact: Mapping[str, Any],
    plan: Plan,
    names: Mapping[str, tuple[str, str]],
    rules: FieldRules,
    locale: str,
) -> dict[str, Any]:
    """One fact of the history as the timeline shows it: what, where, who, why; the
    values of a route's rule masked where the caller may not see that field."""

    def who(user: Any) -> str:
        return names.get(str(user), (str(user), ""))[0] if user else ""

    shown: dict[str, Any] = {
        "fact": fact.get("fact", ""),
        "node": _node_name(plan, fact.get("node"), locale),
        "who": who(fact.get("user")),
        "why": fact.get("why") or fact.get("error") or fact.get("reason") or "",
        "text": fact.get("text") or fact.get("comment") or "",
        "outcome": fact.get("outcome") or fact.get("decision") or fact.get("then") or "",
    }
    if fact.get("to"):
        to = fact["to"]
        targets = to if isinstance(to, list) else [to]
        shown["to"] = "、".join(
            _node_name(plan, t, locale) if t in plan.nodes else (who(t) if t in names else str(t))
            for t in targets
        )
    if fact.get("users"):
        shown["users"] = "、".join(who(u) for u in fact["users"])
    if fact.get("taken"):
        shown["taken"] = "、".join(_label(t, locale) for t in fact["taken"])
    checks = list(fact.get("checked") or [])
    if fact.get("fact") == "auto" and fact.get("rule"):
        checks = [fact]
    shown["checks"] = [
        {
            "branch": _label(c.get("branch"), locale),
            "rule": c.get("rule", ""),
            "shown": ", ".join(
                f"{k} = {'***' if rules.rule(k) in (FieldRule.HIDDEN, FieldRule.MASKED) else v}"
                for k, v in (c.get("values") or {}).items()
            ),
            "result": bool(c.get("result")),
            "error": c.get("error", ""),
        }
        for c in checks
    ]
    if fact.get("tally"):
        shown["tally"] = ", ".join(f"{k}: {v}" for k, v in dict(fact["tally"]).items())
    return shown


async def _record_view(
    request: Request,
    bundle: Bundle,
    record: Record,
    user: User,
    node: Node | None,
    kind: str | None,
) -> tuple[FormDefinition | None, list[dict[str, Any]], FieldRules, bool]:
    """The record's sections under the caller's rules at this step (``edit_rules``), and
    whether any field is editable (the node's write fields, for a task that approves)."""
    active = await services_of(request).enforcer()
    if active is None:
        raise HttpError(404, "not_found")
    try:
        form = FormDefinition.from_bundle(bundle, record.form_id)
    except FormNotFound:
        return None, [], FieldRules({}, FieldRule.HIDDEN), False
    rules = edit_rules(participant_rules(active[2], user, form), node, kind)
    editing = any(rules.rule(key) == FieldRule.WRITABLE for key in write_fields(node))
    data = await open_data(services_of(request).keys, record.form_id, record.data)
    values = apply_field_rules(data, rules)
    choices = await choices_for(form) if editing else None
    sections = build_sections(
        form, values, rules, {}, locale_of(request), read_only=not editing, choices=choices
    )
    return form, sections, rules, editing


@tenant_endpoint()
async def approval_page(request: Request) -> Response:
    instance = await instance_from_path(request)
    user = await participant_or_404(request, instance)
    locale = locale_of(request)
    me = str(user.id)
    bundle = await pinned_bundle(request, instance)
    chain = bundle.workflows.get(instance.workflow_id) or {}
    plan = plan_of(chain)
    state = State.from_json(instance.state)
    record = await Record.get_in_tenant(instance.record_id)
    if record is None:
        raise HttpError(404, "not_found")
    mine = sorted((t for t in state.tasks.values() if t.user == me), key=lambda t: t.id)
    node = plan.node(mine[0].node) if mine else None
    # The first task's node decides the view; its write fields are editable when it approves.
    kind = None
    if mine and "approve" in task_buttons(plan.node(mine[0].node), mine[0]):
        kind = mine[0].kind
    form, sections, rules, editing = await _record_view(request, bundle, record, user, node, kind)
    log = await WorkflowAction.filter(instance_id=instance.id).order_by("revision", "at")
    people = {str(instance.submitter_id), *(str(a.actor_id) for a in log)}
    people |= {t.user for t in state.tasks.values()}
    for action in log:
        for fact in action.facts or []:
            people |= {str(fact[k]) for k in ("user", "to") if isinstance(fact.get(k), str)}
            people |= {str(u) for u in fact.get("users") or [] if isinstance(u, str)}
    names = await names_of(people)
    names[SYSTEM] = (translate(locale, "approval.system"), "")  # what deadlines did
    timeline = [
        {
            "op": a.op,
            "who": names.get(str(a.actor_id), (str(a.actor_id), ""))[0],
            "at": _when(a.at),
            "opinion": _opinion_of(a.facts or []),
            "facts": [
                describe(f, plan, names, rules, locale)
                for f in a.facts or []
                if f.get("fact") in _FACTS_SHOWN
            ],
        }
        for a in log
    ]
    tasks = [
        {
            "task": t.id,
            "version": t.version,
            "kind": t.kind,
            "status": t.status,
            "why": t.why,
            "node": _node_name(plan, t.node, locale),
            "buttons": task_buttons(plan.node(t.node), t, state.runs.get(t.run)),
            "require_comment": sorted(plan.node(t.node).require_comment),
            "return_targets": [
                (target, _node_name(plan, target, locale))
                for target in return_targets(plan, state, plan.node(t.node))
            ],
        }
        for t in mine
    ]
    pending = [
        {
            "who": names.get(t.user, (t.user, ""))[0],
            "node": _node_name(plan, t.node, locale),
            "status": t.status,
            "kind": t.kind,
        }
        for t in sorted(state.tasks.values(), key=lambda t: t.id)
    ]
    involved = (
        state.submitter == me
        or bool(mine)
        or any(a.actor_id == user.id for a in log)
        or any(me in s.approvers for s in state.trail)
    )
    return render(
        request,
        "approvals/approval.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "instance": instance,
            "status": state.status,
            "chain": _label(chain.get("name"), locale, instance.workflow_id),
            "record": record,
            "record_url": f"{_base(request)}/forms/{record.form_id}/records/{record.id}",
            "form": form,
            "form_title": _form_title(bundle, record.form_id, locale),
            "sections": sections,
            "submitter": names.get(str(instance.submitter_id), ("", ""))[0],
            "started": _when(instance.created_at),
            "tasks": tasks,
            "pending": pending,
            "timeline": timeline,
            "submitter_ops": submitter_buttons(state, me),
            "take_back": [(n, _node_name(plan, n, locale)) for n in take_back_nodes(state, me)],
            "can_comment": involved and state.status in ("running", "returned"),
            "act_url": f"{_base(request)}/api/approvals/{instance.id}/actions",
            "idempotency_key": uuid.uuid4().hex,
            "can_reveal": False,
            "editing": editing,
            "edit_task": mine[0].id if editing else "",
        },
    )


ROUTES = [
    Route("/inbox", inbox_page, methods=["GET"]),
    Route("/approvals/{instance_id}", approval_page, methods=["GET"]),
]
