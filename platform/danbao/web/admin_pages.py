"""The tenant administrator's console under ``/t/{slug}/admin``: the permission matrix,
who holds which roles, and why someone may or may not do something.

Editing the matrix publishes a new definitions version (all or nothing, audited), exactly
as publishing a bundle does; assignments go through ``auth.assignments``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.auth.assignments import AssignmentInvalid, change_assignment
from danbao.auth.contacts import UNCHANGED, change_contacts, check_contacts, contacts_of
from danbao.auth.login import normalise_email
from danbao.authz.enforcer import TenantEnforcer
from danbao.db.models import User
from danbao.definitions import Bundle, BundleInvalid, validate_bundle_dict
from danbao.definitions.versions import publish
from danbao.i18n import translate
from danbao.portal.identity import OWNER_SUFFIX
from danbao.records.scope_explain import ScopeVerdict, explain_record
from danbao.web.errors import HttpError, locale_of
from danbao.web.guards import check_allowed
from danbao.web.notify import deliver_ids_later
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, cookie_path, services_of, tenant_endpoint
from danbao.web.users_api import user_from_path
from danbao.workflow.deliver import failed_since

# Which actions make sense on which kind of resource (the matrix shows only these).
ACTIONS_BY_KIND = {
    "form": ("read", "create", "update", "delete", "submit", "export", "unmask"),
    "workflow": ("read", "approve"),
    "report": ("read", "export"),
    "ticket": ("read", "create", "reply", "assign", "update"),
    "admin": ("read", "create", "update", "delete", "publish", "export"),
}
ADMIN_AREAS = ("definitions", "users", "audit", "plugins", "settings", "api_tokens")


def _base(request: Request) -> str:
    return cookie_path(request).rstrip("/")


async def _admin(request: Request, resource: str, action: str) -> tuple[int, Bundle, User]:
    """The current definitions and the caller, if the matrix lets the caller do this."""
    active = await services_of(request).enforcer()
    user: User = caller_of(request).user
    check_allowed(active[2] if active else None, user, resource, action)
    if active is None:  # nothing published: check_allowed has refused already
        raise HttpError(404, "not_found")
    return active[0], active[1], user


def matrix_resources(bundle: Bundle) -> list[tuple[str, tuple[str, ...]]]:
    """Every resource of the tenant with the actions that apply to it, in a stable order."""
    rows = [(f"form:{f}", ACTIONS_BY_KIND["form"]) for f in sorted(bundle.forms)]
    rows += [(f"workflow:{w}", ACTIONS_BY_KIND["workflow"]) for w in sorted(bundle.workflows)]
    rows += [(f"report:{r}", ACTIONS_BY_KIND["report"]) for r in sorted(bundle.reports)]
    rows.append(("ticket:*", ACTIONS_BY_KIND["ticket"]))
    rows += [(f"admin:{a}", ACTIONS_BY_KIND["admin"]) for a in ADMIN_AREAS]
    return rows


def grants_from_form(
    form: Any, roles: list[str], rows: list[tuple[str, tuple[str, ...]]], old: dict[str, Any]
) -> dict[str, dict[str, list[str]]]:
    """The grants the submitted checkboxes describe. Grants the grid does not show (e.g.
    wildcards written by hand) are kept as they were."""
    shown = {resource for resource, _ in rows}
    grants: dict[str, dict[str, list[str]]] = {}
    for role in roles:
        kept = {res: acts for res, acts in old.get(role, {}).items() if res not in shown}
        for resource, actions in rows:
            chosen = [a for a in actions if form.get(f"g|{role}|{resource}|{a}") == "on"]
            if chosen:
                kept[resource] = chosen
        if kept:
            grants[role] = kept
    return grants


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``+role resource action`` / ``-role …`` lines for the audit trail."""

    def triples(grants: dict[str, Any]) -> set[tuple[str, str, str]]:
        return {(r, res, a) for r, rs in grants.items() for res, acts in rs.items() for a in acts}

    before, after = triples(old), triples(new)
    return sorted([f"+{r} {res} {a}" for r, res, a in after - before]) + sorted(
        [f"-{r} {res} {a}" for r, res, a in before - after]
    )


async def admin_links(request: Request, user: User) -> list[tuple[str, str]]:
    """(i18n key, url) of the console pages the user may open, for the home page."""
    active = await services_of(request).enforcer()
    if active is None:
        return []
    enforcer, base = active[2], _base(request)
    pages = [
        ("admin.permissions", "admin:definitions", "/admin/permissions"),
        ("admin.forms", "admin:definitions", "/admin/forms"),
        ("admin.users", "admin:users", "/admin/users"),
        ("admin.plugins", "admin:plugins", "/admin/plugins"),
        ("admin.explain", "admin:users", "/admin/explain"),
        ("admin.simulator", "admin:definitions", "/admin/simulator"),
        ("admin.approval_migrations", "admin:approvals", "/admin/approval-migrations"),
    ]
    return [
        (key, base + path) for key, res, path in pages if enforcer.allowed(user.roles, res, "read")
    ]


@tenant_endpoint()
async def permissions_page(request: Request) -> Response:
    writing = request.method == "POST"
    version, bundle, _ = await _admin(
        request, "admin:definitions", "publish" if writing else "read"
    )
    roles = [r["id"] for r in bundle.permissions["roles"]]
    rows = matrix_resources(bundle)
    errors: list[str] = []
    notice = request.query_params.get("published")
    if writing:
        form = await request.form()
        old = bundle.permissions.get("grants", {})
        new = grants_from_form(form, roles, rows, old)
        files = bundle.to_dict()
        files["permissions.json"]["grants"] = new
        try:
            candidate = validate_bundle_dict(files)
        except BundleInvalid as invalid:
            errors = [str(e) for e in invalid.errors]
        else:
            published, created = await publish(candidate, note="permission matrix (console)")
            if created:
                await record_event(
                    "permissions.changed",
                    "definition_version",
                    str(published.number),
                    {"changes": _changes(old, new)},
                )
            return RedirectResponse(
                f"{_base(request)}/admin/permissions?published={published.number}", 303
            )
    return render(
        request,
        "admin/permissions.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "version": version,
            "bundle": bundle,
            "rows": rows,
            "grants": bundle.permissions.get("grants", {}),
            "errors": errors,
            "notice": notice,
        },
        status_code=422 if errors else 200,
    )


def _csrf(request: Request) -> str:
    auth = caller_of(request).auth
    return auth.session.csrf_token if auth is not None and auth.session is not None else ""


async def _users_page(
    request: Request,
    bundle: Bundle,
    *,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    users = await User.exclude(email__endswith=OWNER_SUFFIX).order_by("email").limit(500)
    keys = services_of(request).keys
    return render(
        request,
        "admin/users.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "bundle": bundle,
            "users": users,
            "contacts": {str(u.id): await contacts_of(keys, u) for u in users},
            "notice": request.query_params.get("saved"),
            "resent": request.query_params.get("resent"),
            "errors": errors or {},
        },
        status_code=status_code,
    )


@tenant_endpoint()
async def users_page(request: Request) -> Response:
    _, bundle, _ = await _admin(request, "admin:users", "read")
    return await _users_page(request, bundle)


@tenant_endpoint()
async def user_update(request: Request) -> Response:
    _, bundle, _ = await _admin(request, "admin:users", "update")
    user = await user_from_path(request)
    form = await request.form()
    roles = [str(r) for r in form.getlist("roles")]
    department = str(form.get("department") or "") or None
    # An empty mobile keeps the one on file (the page never holds it in clear).
    mobile = None if form.get("mobile_clear") == "on" else str(form.get("mobile") or "").strip()
    contact_ids = {
        "wecom_userid": str(form["wecom_userid"]) if "wecom_userid" in form else UNCHANGED,
        "mobile": mobile or (None if mobile is None else UNCHANGED),
    }
    try:
        errors = check_contacts(**contact_ids)
        if errors:  # checked before anything changes: nothing half-applied
            raise AssignmentInvalid(errors)
        await change_assignment(
            bundle, user, roles=roles, department=department, is_active=form.get("active") == "on"
        )
        await change_contacts(services_of(request).keys, user, **contact_ids)
    except AssignmentInvalid as invalid:
        locale = locale_of(request)
        messages = [translate(locale, f"assign.{e.code}", **e.params) for e in invalid.errors]
        return await _users_page(request, bundle, errors={str(user.id): messages}, status_code=422)
    return RedirectResponse(f"{_base(request)}/admin/users?saved={user.email}", 303)


@tenant_endpoint()
async def notifications_resend(request: Request) -> Response:
    """The page's button for ``POST /api/notifications/resend`` (7 days)."""
    await _admin(request, "admin:users", "update")
    claimed = await failed_since(7)
    return RedirectResponse(
        f"{_base(request)}/admin/users?resent={len(claimed)}",
        303,
        background=deliver_ids_later(request, claimed),
    )


@tenant_endpoint()
async def explain_page(request: Request) -> Response:
    _, bundle, _ = await _admin(request, "admin:users", "read")
    params = request.query_params
    email = params.get("user", "")
    resource, action = params.get("resource", ""), params.get("action", "")
    record = params.get("record", "").strip()
    decision, subject, verdict, record_missing = None, None, None, False
    if email and resource and action:
        subject = await User.filter(email=normalise_email(email)).first()
        active = await services_of(request).enforcer()
        if subject is not None and active is not None:
            decision = active[2].explain(subject.roles, resource, action)
            if record:
                verdict = await _verdict(active[2], subject, resource, record)
                record_missing = verdict is None
    return render(
        request,
        "admin/explain.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "bundle": bundle,
            "rows": matrix_resources(bundle),
            "actions": sorted({a for acts in ACTIONS_BY_KIND.values() for a in acts}),
            "query": {"user": email, "resource": resource, "action": action, "record": record},
            "subject": subject,
            "decision": decision,
            "verdict": verdict,
            "record_missing": record_missing,
            "asked": bool(email and resource and action),
        },
    )


async def _verdict(
    enforcer: TenantEnforcer, subject: User, resource: str, record: str
) -> ScopeVerdict | None:
    """The record's scope verdict; None when it is not a record of that form."""
    kind, _, form_id = resource.partition(":")
    try:
        record_id = uuid.UUID(record)
    except ValueError:
        return None
    if kind != "form" or form_id == "*":
        return None
    return await explain_record(enforcer, subject, form_id, record_id)


ROUTES = [
    Route("/admin/permissions", permissions_page, methods=["GET", "POST"]),
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/notifications/resend", notifications_resend, methods=["POST"]),
    Route("/admin/users/{user_id}", user_update, methods=["POST"]),
    Route("/admin/explain", explain_page, methods=["GET"]),
]
