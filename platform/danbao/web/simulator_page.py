"""The administrator's approval simulator ``/t/{slug}/admin/simulator``: choose a chain,
enter the values its routes read (amount, branch…) and a submitter, and see who would
approve through which route — the page of ``POST …/api/approvals/simulate``.

A GET form: asking stores nothing, so the question is a shareable address. Authorised
like the API (``admin:definitions`` read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from danbao.definitions import Bundle
from danbao.definitions.conditions import analyse
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.web.admin_pages import _admin, _base
from danbao.web.errors import locale_of
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, tenant_endpoint
from danbao.workflow.simulate import simulate
from danbao.workflow.store import load_people, plan_of


def route_fields(chain: Mapping[str, Any]) -> list[str]:
    """The form fields the chain's routes and person rules read, in the order they appear."""
    found: list[str] = []
    for node in chain.get("nodes", []):
        texts = [b.get("when") for b in node.get("branches", [])]
        texts += [r.get("when") for r in node.get("rules", [])]
        for text in texts:
            if isinstance(text, str):
                try:
                    found += sorted(analyse(text).names)
                except Exception:  # noqa: S112 - a published chain parses; skip if not
                    continue
        for rule in node.get("assignees", []):
            if isinstance(rule, dict) and rule.get("kind") == "form_user" and rule.get("field"):
                found.append(rule["field"])
    return list(dict.fromkeys(found))


def _input(key: str, form: FormDefinition | None, locale: str, raw: str) -> dict[str, Any]:
    prop = (form.properties.get(key) if form else None) or {}
    kind = prop.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    field: dict[str, Any] = {
        "key": key,
        "label": form.label(key, locale) if form and key in form.properties else key,
        "kind": "text",
        "value": raw,
        "options": [],
    }
    if kind in ("number", "integer"):
        field["kind"] = "number"
    elif kind == "boolean":
        field["kind"] = "select"
        field["options"] = [("true", "true"), ("false", "false")]
    elif isinstance(prop.get("enum"), list):
        field["kind"] = "select"
        field["options"] = [(str(v), str(v)) for v in prop["enum"]]
    return field


def _value(field: Mapping[str, Any], raw: str) -> Any:
    if raw == "":
        return None
    if field["kind"] == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw  # the route says it could not compare, which is the honest answer
        return int(number) if number.is_integer() else number
    if field["options"] == [("true", "true"), ("false", "false")]:
        return raw == "true"
    return raw


def _form_of(bundle: Bundle, chain: Mapping[str, Any]) -> FormDefinition | None:
    try:
        return FormDefinition.from_bundle(bundle, str(chain.get("form", "")))
    except FormNotFound:
        return None


def _label(value: Any, locale: str, fallback: str = "") -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh-CN") or fallback)
    return str(value or fallback)


def _who(people: Any, user: Any) -> str:
    person = people.persons.get(str(user)) if user else None
    return f"{person.name} <{person.email}>" if person else str(user or "")


@tenant_endpoint()
async def simulator_page(request: Request) -> Response:
    _, bundle, _ = await _admin(request, "admin:definitions", "read")
    locale = locale_of(request)
    q: QueryParams = request.query_params
    chains = sorted(bundle.workflows)
    chosen = q.get("workflow") if q.get("workflow") in bundle.workflows else None
    workflow_id = chosen or (chains[0] if chains else None)
    context: dict[str, Any] = {
        "tenant": caller_of(request).tenant,
        "base": _base(request),
        "chains": [(w, _label(bundle.workflows[w].get("name"), locale, w)) for w in chains],
        "workflow": workflow_id,
        "departments": [
            (d["id"], _label(d.get("name"), locale, d["id"]))
            for d in bundle.permissions.get("departments", [])
        ],
        "roles": [
            (r["id"], _label(r.get("name"), locale, r["id"]))
            for r in bundle.permissions.get("roles", [])
        ],
        "query": {
            "department": q.get("department", ""),
            "roles": q.getlist("roles"),
            "submitter": q.get("submitter", "").strip(),
        },
        "fields": [],
        "result": None,
        "unknown_submitter": False,
    }
    if workflow_id is None:
        return render(request, "admin/simulator.html", context)
    chain = bundle.workflows[workflow_id]
    form = _form_of(bundle, chain)
    fields = [_input(k, form, locale, q.get(f"v.{k}", "")) for k in route_fields(chain)]
    context["fields"] = fields
    if q.get("ask") != "1":
        return render(request, "admin/simulator.html", context)
    people = await load_people(bundle)
    submitter = None
    if context["query"]["submitter"]:
        person = people.by_key(context["query"]["submitter"])
        if person is None:
            context["unknown_submitter"] = True
            return render(request, "admin/simulator.html", context, status_code=404)
        submitter = person.id
    plan = plan_of(chain)
    data = {f["key"]: _value(f, f["value"]) for f in fields if f["value"] != ""}
    result = simulate(
        plan,
        people,
        data,
        department=context["query"]["department"] or None,
        roles=[r for r in context["query"]["roles"] if r],
        submitter=submitter,
        sensitive=form.sensitive_fields if form else frozenset(),
    )
    names = {n.id: n.name for n in plan.nodes.values()}
    context["result"] = {
        "status": result.status,
        "route": [
            {
                **r,
                "node_name": _label(names.get(r.get("node", "")), locale, r.get("node", "")),
                "who": _who(people, r.get("user")),
                "to_names": [_label(names.get(t), locale, t) for t in r.get("to") or []],
            }
            for r in result.route
        ],
        "nodes": [
            {**n, "name": _label(names.get(n["node"]), locale, n["node"])} for n in result.nodes
        ],
    }
    return render(request, "admin/simulator.html", context)


ROUTES = [Route("/admin/simulator", simulator_page, methods=["GET"])]
