"""Every tenant route, generated from the route table, tried by the wrong callers.

A new route is covered without anyone remembering: anonymous callers, callers signed in
to another tenant, and a user of the tenant who holds no role get a refusal and nothing
of the tenant's data.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from tortoise.transactions import in_transaction

from danbao.auth.sessions import issue_api_token
from danbao.authz.compiler import compile_permissions
from danbao.authz.enforcer import TenantEnforcer
from danbao.definitions import load_bundle
from danbao.provisioning import create_tenant, create_user
from danbao.tenancy.context import tenant_scope
from danbao.web import api, pages
from danbao.web import portal as portal_routes
from danbao.web.portal_endpoint import PORTAL_COOKIE, PORTAL_LOGIN_CSRF
from danbao.web.tenant_endpoint import LOGIN_CSRF_COOKIE

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .documents_helpers import starter_with_documents
from .portal_helpers import application_form, portal, portal_sign_in
from .records_helpers import VALID

PUBLIC = {
    ("/t/{slug}/api/session", "POST"),
    ("/t/{slug}/api/openapi.json", "GET"),
    ("/t/{slug}/login", "GET"),
    ("/t/{slug}/login", "POST"),
    # Vendors sign their callbacks instead of signing in (tests/test_plugins_esign_cn.py).
    ("/t/{slug}/api/callbacks/{plugin_id}", "POST"),
    # A guarantee letter's verification page, reached by its QR code (test_documents.py).
    ("/t/{slug}/verify/{token}", "GET"),
    ("/t/{slug}/verify/{token}", "POST"),
}


def _tenant_routes() -> list[tuple[str, str]]:
    found = []
    for prefix, routes in (("/t/{slug}/api", api.ROUTES), ("/t/{slug}", pages.ROUTES)):
        for route in routes:
            assert isinstance(route, Route)
            for method in sorted(route.methods or set()):
                if method != "HEAD":
                    found.append((prefix + route.path, method))
    return found


def _fill(path: str, slug: str) -> str:
    # A real form, so that a refusal is about permission and not an unknown form.
    path = path.replace("{slug}", slug).replace("{form_id}", "application")
    return re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000001", path)


ROUTES = _tenant_routes()


def test_the_sweep_sees_the_routes() -> None:
    assert ("/t/{slug}/api/me", "GET") in ROUTES and len(ROUTES) >= 10


@pytest.mark.parametrize(("path", "method"), [r for r in ROUTES if r not in PUBLIC])
async def test_anonymous_is_refused(
    make_client: ClientFactory, path: str, method: str, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        response = await client.request(method, _fill(path, "alpha"), json={})
    # Pages send people to the sign-in page; the API answers 401.
    assert response.status_code in {401, 303}, (path, method, response.status_code)
    if response.status_code == 303:
        assert response.headers["location"].endswith("/t/alpha/login")
    assert "admin@alpha.test" not in response.text


@pytest.mark.parametrize(("path", "method"), ROUTES)
async def test_other_tenants_session_gets_nothing(
    make_client: ClientFactory, tenants: dict[str, TenantFixture], path: str, method: str
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "beta", tenants["beta"].admin_email)
        token = client.cookies.get("danbao_session")
    async with make_client() as client:
        client.cookies.set("danbao_session", token)
        response = await client.request(
            method, _fill(path, "alpha"), json={}, headers={"X-CSRF-Token": csrf}
        )
    assert response.status_code in {200, 303, 400, 401, 403, 404, 415}, (path, response.status_code)
    body = response.text
    assert "admin@alpha.test" not in body and str(tenants["alpha"].id) not in body
    if (path, method) not in PUBLIC:
        assert response.status_code in {303, 401}, (path, method, response.status_code)


# What any signed-in user may do whatever their roles: their own session, profile, tokens
# and home page. Everything else needs a grant.
ANY_SIGNED_IN = PUBLIC | {
    ("/t/{slug}/api/session", "DELETE"),
    ("/t/{slug}/api/me", "GET"),
    ("/t/{slug}/api/tokens", "GET"),
    ("/t/{slug}/api/tokens/{token_id}", "DELETE"),
    ("/t/{slug}/api/approvals/inbox", "GET"),
    ("/t/{slug}/inbox", "GET"),
    # One's own notifications and proxies, and approving one's own tasks in a batch.
    ("/t/{slug}/api/notifications", "GET"),
    ("/t/{slug}/api/notifications/read", "POST"),
    ("/t/{slug}/api/approvals/proxies", "GET"),
    ("/t/{slug}/api/approvals/proxies", "POST"),
    ("/t/{slug}/api/approvals/batch", "POST"),
    ("/t/{slug}/", "GET"),
    ("/t/{slug}/logout", "POST"),
}


@pytest.fixture(scope="module")
async def roleless(tenants: dict[str, TenantFixture]) -> str:
    """A user of alpha who holds no role at all."""
    email = "nobody@alpha.test"
    with tenant_scope(tenants["alpha"].context):
        async with in_transaction():
            await create_user(email, "无角色用户", PASSWORD, [])
    return email


@pytest.mark.parametrize(("path", "method"), [r for r in ROUTES if r not in ANY_SIGNED_IN])
async def test_a_user_without_the_permission_is_refused(
    make_client: ClientFactory, roleless: str, path: str, method: str
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", roleless)
        response = await client.request(
            method, _fill(path, "alpha"), json={}, headers={"X-CSRF-Token": csrf}
        )
    # 403, or 404 where the object itself does not exist for anyone (a made-up token id).
    assert response.status_code in {403, 404}, (path, method, response.status_code)
    assert "admin@alpha.test" not in response.text


# --- a user who holds the permission --------------------------------------------------
#
# Every route of the table must appear in SAMPLES: the grant that opens it and a request
# that a holder of that grant makes successfully. The holder gets no refusal and nothing of
# another tenant. A route without a sample fails test_every_route_has_a_sample.


@dataclass(frozen=True)
class World:
    """The sweep's own tenant (fresh from the template, so its requests change no one
    else's data) and what the samples need of it."""

    slug: str
    holder: str
    holder_roles: tuple[str, ...]
    holder_id: str
    record_id: str
    submit_id: str
    token_id: str
    user_id: str
    run_id: str
    page_run_id: str
    instance_id: str
    wf_migration_ids: tuple[str, str]
    """Two planned approval migrations (review, 1 -> 2): one the API runs, one the page."""
    project_id: str
    project_record_id: str
    """A submitted record with no project yet (the create sample makes one)."""
    tickets: dict[str, str]
    """Open tickets on the project, one per sample that moves one (version 1 each)."""
    page_project_id: str
    """A second project, in DRAFT, for the project page's event form."""
    files: dict[str, Any]
    """The bundle as last published (version 2: the template plus an optional field)."""
    form_text: str
    foreign: tuple[str, ...]
    """Strings only another tenant's data contains: its admin, its id, a record's id and name."""


Fields = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Sample:
    """``needs``: the grant (resource, action) that opens the route; None for a route open
    to anyone signed in (or to everyone). ``json``/``form``/``query`` build the request;
    ``ok``: the statuses a holder may get."""

    needs: tuple[str, str] | None
    ok: frozenset[int] = frozenset({200})
    json: Fields | None = None
    form: Fields | None = None
    query: Fields | None = None
    headers: Fields | None = None


def _ok(*codes: int) -> frozenset[int]:
    return frozenset(codes)


FORM = ("form:application", "read")
SAMPLES: dict[tuple[str, str], Sample] = {
    ("/t/{slug}/api/session", "POST"): Sample(
        None, json=lambda w: {"email": w.holder, "password": PASSWORD}
    ),
    ("/t/{slug}/api/session", "DELETE"): Sample(None, _ok(204)),
    ("/t/{slug}/api/me", "GET"): Sample(None),
    ("/t/{slug}/api/definitions/versions", "GET"): Sample(("admin:definitions", "read")),
    ("/t/{slug}/api/definitions/versions", "POST"): Sample(
        ("admin:definitions", "publish"), _ok(200, 201), json=lambda w: {"files": w.files}
    ),
    ("/t/{slug}/api/definitions/versions/{number}", "GET"): Sample(("admin:definitions", "read")),
    ("/t/{slug}/api/definitions/diff", "GET"): Sample(
        ("admin:definitions", "read"), query=lambda w: {"from": 1, "to": 1}
    ),
    ("/t/{slug}/api/tokens", "GET"): Sample(None),
    ("/t/{slug}/api/tokens", "POST"): Sample(
        ("admin:api_tokens", "create"), _ok(201), json=lambda w: {"name": "sweep"}
    ),
    ("/t/{slug}/api/tokens/{token_id}", "DELETE"): Sample(None, _ok(204)),
    ("/t/{slug}/api/authz/explain", "GET"): Sample(
        ("admin:users", "read"),
        query=lambda w: {"user": w.holder, "resource": "form:application", "action": "read"},
    ),
    ("/t/{slug}/api/forms/{form_id}/records/export.csv", "GET"): Sample(
        ("form:application", "export")
    ),
    ("/t/{slug}/api/forms/{form_id}/records/export.xlsx", "GET"): Sample(
        ("form:application", "export")
    ),
    ("/t/{slug}/api/forms/{form_id}/records", "POST"): Sample(
        ("form:application", "create"), _ok(201), json=lambda w: {"data": {"amount": 1000}}
    ),
    ("/t/{slug}/api/forms/{form_id}/records", "GET"): Sample(FORM),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}", "GET"): Sample(FORM),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}", "PATCH"): Sample(
        ("form:application", "update"), json=lambda w: {"data": {"purpose": "扫描测试用途"}}
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/submit", "POST"): Sample(
        ("form:application", "submit")
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/reveal", "POST"): Sample(
        ("form:application", "unmask"), json=lambda w: {"field": "legal_rep_id_number"}
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/approval", "POST"): Sample(
        ("form:application", "submit"),
        _ok(201, 409),  # 409 while the submit sample has not yet submitted the record
        headers=lambda w: {"Idempotency-Key": "sweep-start"},
    ),
    ("/t/{slug}/api/approvals/inbox", "GET"): Sample(None),
    ("/t/{slug}/api/approvals/{instance_id}", "GET"): Sample(None),
    ("/t/{slug}/api/approvals/{instance_id}/actions", "POST"): Sample(
        None,
        json=lambda w: {"op": "comment", "comment": "扫描评论"},
        headers=lambda w: {"Idempotency-Key": "sweep-comment"},
    ),
    # The holder has no task in the world's approval: the item fails alone, the call is served.
    ("/t/{slug}/api/approvals/batch", "POST"): Sample(
        None,
        json=lambda w: {"items": [{"instance": w.instance_id, "task": "t1", "key": "sweep-b"}]},
    ),
    # The holder has no live task, so nothing moves; the request itself is served.
    ("/t/{slug}/api/approvals/reassign", "POST"): Sample(
        ("admin:approvals", "update"),
        json=lambda w: {"from": w.holder, "to": f"other@{w.slug}.test"},
        headers=lambda w: {"Idempotency-Key": "sweep-reassign"},
    ),
    ("/t/{slug}/api/approvals/proxies", "GET"): Sample(None),
    ("/t/{slug}/api/approvals/proxies", "POST"): Sample(
        None,
        _ok(200, 201),
        json=lambda w: {
            "proxy": f"other@{w.slug}.test",
            "starts_on": "2099-01-01",
            "ends_on": "2099-01-02",
        },
    ),
    ("/t/{slug}/api/approvals/proxies/{proxy_id}", "DELETE"): Sample(None, _ok(404)),
    ("/t/{slug}/api/notifications", "GET"): Sample(None),
    ("/t/{slug}/api/notifications/read", "POST"): Sample(None, json=lambda w: {"all": True}),
    ("/t/{slug}/api/notifications/resend", "POST"): Sample(
        ("admin:users", "update"), json=lambda w: {"days": 7}
    ),
    ("/t/{slug}/api/approvals/simulate", "POST"): Sample(
        ("admin:definitions", "read"), json=lambda w: {"data": {"amount": 6000000}}
    ),
    # Approval migrations (review, version 1 -> 2; the world's approval runs on version 2,
    # so the runs move nothing). Each run sample starts a planned run of its own.
    ("/t/{slug}/api/workflows/{workflow_id}/migrations", "GET"): Sample(
        ("admin:approvals", "read")
    ),
    ("/t/{slug}/api/workflows/{workflow_id}/migrations", "POST"): Sample(
        ("admin:approvals", "update"),
        json=lambda w: {"from_version": 1, "to_version": 2, "dry_run": True},
    ),
    ("/t/{slug}/api/workflows/{workflow_id}/migrations/{migration_id}", "GET"): Sample(
        ("admin:approvals", "read")
    ),
    ("/t/{slug}/api/workflows/{workflow_id}/migrations/{migration_id}/run", "POST"): Sample(
        ("admin:approvals", "update"), _ok(202)
    ),
    ("/t/{slug}/admin/approval-migrations", "GET"): Sample(
        ("admin:approvals", "read"), query=lambda w: {"workflow": "review"}
    ),
    ("/t/{slug}/admin/approval-migrations", "POST"): Sample(
        ("admin:approvals", "update"),
        form=lambda w: {"workflow": "review", "from_version": "1", "to_version": "2"},
    ),
    ("/t/{slug}/admin/approval-migrations/{migration_id}", "GET"): Sample(
        ("admin:approvals", "read")
    ),
    ("/t/{slug}/admin/approval-migrations/{migration_id}/run", "POST"): Sample(
        ("admin:approvals", "update"), _ok(303), form=lambda w: {}
    ),
    ("/t/{slug}/api/users", "GET"): Sample(("admin:users", "read")),
    ("/t/{slug}/api/users", "POST"): Sample(
        ("admin:users", "create"),
        _ok(201),
        json=lambda w: {
            "email": f"made{uuid.uuid4().hex[:8]}@{w.slug}.test",
            "name": "扫描新用户",
            "password": PASSWORD,
            "roles": ["legal"],
        },
    ),
    ("/t/{slug}/api/users/{user_id}", "PATCH"): Sample(
        ("admin:users", "update"), json=lambda w: {"roles": ["finance"]}
    ),
    ("/t/{slug}/api/openapi.json", "GET"): Sample(None),
    ("/t/{slug}/", "GET"): Sample(None),
    ("/t/{slug}/login", "GET"): Sample(None),
    ("/t/{slug}/login", "POST"): Sample(
        None, _ok(303), form=lambda w: {"email": w.holder, "password": PASSWORD}
    ),
    ("/t/{slug}/logout", "POST"): Sample(None, _ok(303), form=lambda w: {}),
    ("/t/{slug}/forms/{form_id}/records", "GET"): Sample(FORM),
    ("/t/{slug}/forms/{form_id}/new", "GET"): Sample(("form:application", "create")),
    ("/t/{slug}/forms/{form_id}/new", "POST"): Sample(
        ("form:application", "create"),
        _ok(303),
        form=lambda w: {"action": "save", "applicant_name": "扫描页面草稿"},
    ),
    ("/t/{slug}/forms/{form_id}/records/{record_id}", "GET"): Sample(FORM),
    ("/t/{slug}/forms/{form_id}/records/{record_id}", "POST"): Sample(
        ("form:application", "update"),
        _ok(303),
        form=lambda w: {"action": "save", "applicant_name": "扫描页面修改"},
    ),
    ("/t/{slug}/forms/{form_id}/new/autosave", "POST"): Sample(
        ("form:application", "create"), form=lambda w: {"applicant_name": "扫描自动保存新建"}
    ),
    # The record's revision moves as other samples save it; 409 is autosave's "changed
    # elsewhere" answer, not a refusal.
    ("/t/{slug}/forms/{form_id}/records/{record_id}/autosave", "POST"): Sample(
        ("form:application", "update"),
        _ok(200, 409),
        form=lambda w: {"revision": "1", "applicant_name": "扫描自动保存"},
    ),
    ("/t/{slug}/admin/permissions", "GET"): Sample(("admin:definitions", "read")),
    ("/t/{slug}/admin/permissions", "POST"): Sample(
        ("admin:definitions", "publish"), _ok(303), form=lambda w: _grid(w.files)
    ),
    ("/t/{slug}/admin/users", "GET"): Sample(("admin:users", "read")),
    ("/t/{slug}/admin/users/{user_id}", "POST"): Sample(
        ("admin:users", "update"),
        _ok(303),
        form=lambda w: {
            "roles": "legal",
            "department": "legal",
            "active": "on",
            "wecom_userid": "SweepUser",
            "mobile": "13800138000",
        },
    ),
    ("/t/{slug}/admin/notifications/resend", "POST"): Sample(("admin:users", "update"), _ok(303)),
    # Approval pages: the inbox of any signed-in user, one approval its submitter sees.
    ("/t/{slug}/inbox", "GET"): Sample(None, query=lambda w: {"tab": "done", "overdue": "on"}),
    ("/t/{slug}/approvals/{instance_id}", "GET"): Sample(None),
    ("/t/{slug}/admin/simulator", "GET"): Sample(
        ("admin:definitions", "read"),
        query=lambda w: {"ask": "1", "workflow": "review", "v.amount": "6000000"},
    ),
    ("/t/{slug}/admin/explain", "GET"): Sample(
        ("admin:users", "read"),
        query=lambda w: {"user": w.holder, "resource": "form:application", "action": "read"},
    ),
    # The form editor.
    ("/t/{slug}/api/definitions/forms/{form_id}/check", "POST"): Sample(
        ("admin:definitions", "read"), json=lambda w: {"text": w.form_text}
    ),
    ("/t/{slug}/admin/forms", "GET"): Sample(("admin:definitions", "read")),
    ("/t/{slug}/admin/forms/{form_id}/edit", "GET"): Sample(("admin:definitions", "read")),
    ("/t/{slug}/admin/forms/{form_id}/edit", "POST"): Sample(
        ("admin:definitions", "publish"), _ok(303), form=lambda w: {"text": w.form_text}
    ),
    ("/t/{slug}/admin/forms/{form_id}/preview", "POST"): Sample(
        ("admin:definitions", "read"), json=lambda w: {"text": w.form_text}
    ),
    ("/t/{slug}/admin/versions", "GET"): Sample(("admin:definitions", "read")),
    # Record migrations (from version 1 to the world's version 2). A rollback of a run that
    # has not run answers 409: its state refuses it, not the permission.
    ("/t/{slug}/api/forms/{form_id}/migrations", "GET"): Sample(("admin:definitions", "read")),
    ("/t/{slug}/api/forms/{form_id}/migrations", "POST"): Sample(
        ("admin:definitions", "update"),
        json=lambda w: {"from_version": 1, "to_version": 2, "operations": [], "dry_run": True},
    ),
    ("/t/{slug}/api/forms/{form_id}/migrations/suggest", "GET"): Sample(
        ("admin:definitions", "read"), query=lambda w: {"from": 1, "to": 2}
    ),
    ("/t/{slug}/api/forms/{form_id}/migrations/{run_id}", "GET"): Sample(
        ("admin:definitions", "read")
    ),
    ("/t/{slug}/api/forms/{form_id}/migrations/{run_id}/run", "POST"): Sample(
        ("admin:definitions", "update"), _ok(202)
    ),
    ("/t/{slug}/api/forms/{form_id}/migrations/{run_id}/rollback", "POST"): Sample(
        ("admin:definitions", "update"), _ok(202, 409)
    ),
    ("/t/{slug}/admin/forms/{form_id}/migrations", "GET"): Sample(("admin:definitions", "read")),
    ("/t/{slug}/admin/forms/{form_id}/migrations", "POST"): Sample(
        ("admin:definitions", "update"),
        form=lambda w: {"from_version": "1", "to_version": "2", "operations": "[]"},
    ),
    ("/t/{slug}/admin/forms/{form_id}/migrations/{run_id}", "GET"): Sample(
        ("admin:definitions", "read")
    ),
    ("/t/{slug}/admin/forms/{form_id}/migrations/{run_id}/run", "POST"): Sample(
        ("admin:definitions", "update"), _ok(303), form=lambda w: {}
    ),
    ("/t/{slug}/admin/forms/{form_id}/migrations/{run_id}/rollback", "POST"): Sample(
        ("admin:definitions", "update"), _ok(303, 409), form=lambda w: {}
    ),
    # Due-diligence checks on a record (no checking plug-in enabled: each outcome says so).
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/checks", "POST"): Sample(
        ("form:application", "update"), json=lambda w: {"checks": ["registry"]}
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/checks", "GET"): Sample(FORM),
    # Vendors sign their callbacks instead of signing in, so no grant opens this route: a
    # signed-in user is refused like anyone without the vendor's signature (401), or finds
    # no callback for a plug-in that takes none (404). Signed calls: test_plugins_esign_cn.
    ("/t/{slug}/api/callbacks/{plugin_id}", "POST"): Sample(
        None, _ok(401, 404), json=lambda w: {"flow_id": "x"}
    ),
    # Starting a signature needs a stored PDF and an e-signature plug-in: a holder's empty
    # request is refused for its content (422), past the grant.
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/signatures", "POST"): Sample(
        ("form:application", "update"), _ok(422), json=lambda w: {}
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/signatures", "GET"): Sample(FORM),
    ("/t/{slug}/forms/{form_id}/records/{record_id}/checks", "GET"): Sample(FORM),
    ("/t/{slug}/forms/{form_id}/records/{record_id}/checks", "POST"): Sample(
        ("form:application", "update"), _ok(303), form=lambda w: {"check|registry": "on"}
    ),
    # Attachments: the template's form declares no attachment field and the world holds no
    # upload, so a holder is answered for the content (404 field / file, 415, 422), past the
    # grant. Real uploads and downloads: tests/test_attachments.py.
    ("/t/{slug}/api/forms/{form_id}/attachments/{field}", "POST"): Sample(
        ("form:application", "create"), _ok(404, 415, 422), json=lambda w: {}
    ),
    ("/t/{slug}/api/attachments/{attachment_id}", "GET"): Sample(FORM, _ok(404)),
    ("/t/{slug}/api/attachments/{attachment_id}", "DELETE"): Sample(
        ("form:application", "create"), _ok(404)
    ),
    # Documents (the world's version 2 declares the starter's contract and letter; no
    # e-signature plug-in is enabled, so issuing is refused past the grant with 409, and
    # the made-up document and token are 404). Real issuing: tests/test_documents.py.
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/document-previews/{doc_id}", "GET"): (
        Sample(FORM, query=lambda w: {"format": "html"})
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/documents", "POST"): Sample(
        ("form:application", "update"), _ok(409), json=lambda w: {"document": "letter"}
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/documents", "GET"): Sample(FORM),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/documents/{document_id}/pdf", "GET"): (
        Sample(FORM, _ok(404))
    ),
    ("/t/{slug}/api/forms/{form_id}/records/{record_id}/documents/{document_id}/status", "POST"): (
        Sample(("form:application", "update"), _ok(404), json=lambda w: {"status": "revoked"})
    ),
    ("/t/{slug}/forms/{form_id}/records/{record_id}/documents", "GET"): Sample(FORM),
    ("/t/{slug}/forms/{form_id}/records/{record_id}/documents", "POST"): Sample(
        ("form:application", "update"), _ok(409), form=lambda w: {"document": "contract"}
    ),
    ("/t/{slug}/verify/{token}", "GET"): Sample(None, _ok(404)),
    ("/t/{slug}/verify/{token}", "POST"): Sample(None, _ok(404), form=lambda w: {}),
    # Plug-ins (the world enabled sandbox.messaging).
    ("/t/{slug}/admin/plugins", "GET"): Sample(("admin:plugins", "read")),
    ("/t/{slug}/admin/plugins/{plugin_id}", "POST"): Sample(
        ("admin:plugins", "update"),
        _ok(303),
        form=lambda w: {"enabled": "on", "s|sender": "担保云"},
    ),
    ("/t/{slug}/admin/plugins/{plugin_id}/test", "POST"): Sample(
        ("admin:plugins", "update"), form=lambda w: {}
    ),
    ("/t/{slug}/api/plugins", "GET"): Sample(("admin:plugins", "read")),
    ("/t/{slug}/api/plugins/{plugin_id}", "PUT"): Sample(
        ("admin:plugins", "update"), json=lambda w: {"settings": {"sender": "担保云"}}
    ),
    ("/t/{slug}/api/plugins/{plugin_id}/health", "POST"): Sample(("admin:plugins", "update")),
    # Guarantee projects (the world made one of a submitted record; the event is a preview).
    ("/t/{slug}/api/projects", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/api/projects", "POST"): Sample(
        ("project:*", "create"), _ok(201), json=lambda w: {"record_id": w.project_record_id}
    ),
    ("/t/{slug}/api/projects/{project_id}", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/api/projects/{project_id}/events/{event}", "POST"): Sample(
        ("project:accept", "update"), json=lambda w: {"dry_run": True}
    ),
    # Service tickets (the world opened three on its project, one per sample that moves one).
    ("/t/{slug}/api/tickets", "GET"): Sample(("ticket:*", "read")),
    ("/t/{slug}/api/projects/{project_id}/tickets", "POST"): Sample(
        ("ticket:*", "create"),
        _ok(201),
        json=lambda w: {"subject": "扫描", "category": "consult", "body": "问"},
    ),
    ("/t/{slug}/api/tickets/{ticket_id}", "GET"): Sample(("ticket:*", "read")),
    ("/t/{slug}/api/tickets/{ticket_id}/replies", "POST"): Sample(
        ("ticket:*", "reply"), json=lambda w: {"body": "答"}
    ),
    ("/t/{slug}/api/tickets/{ticket_id}/assign", "POST"): Sample(
        ("ticket:*", "assign"), json=lambda w: {"assignee_id": w.holder_id, "version": 1}
    ),
    ("/t/{slug}/api/tickets/{ticket_id}/actions/{action}", "POST"): Sample(
        ("ticket:*", "update"), json=lambda w: {"version": 1}
    ),
    # A guarantee in force (the world's project is a draft: the loan's writes are refused
    # for its state past the grant; the made-up item and task are 404). Real flows:
    # tests/test_project_in_force.py.
    ("/t/{slug}/api/projects/{project_id}/counter-guarantees", "GET"): Sample(
        ("project:*", "read")
    ),
    ("/t/{slug}/api/projects/{project_id}/counter-guarantees", "POST"): Sample(
        ("project:counter_guarantees", "update"),
        _ok(201),
        json=lambda w: {
            "kind": "guarantee",
            "asset": "person",
            "description": "实际控制人连带责任保证",
            "owner": "张三",
            "valuation": "500000",
            "haircut": "0.5",
        },
    ),
    ("/t/{slug}/api/projects/{project_id}/counter-guarantees/{item_id}", "PATCH"): Sample(
        ("project:counter_guarantees", "update"), _ok(404), json=lambda w: {"version": 1}
    ),
    ("/t/{slug}/api/projects/{project_id}/loan", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/api/projects/{project_id}/loan", "POST"): Sample(
        ("project:confirm_disbursement", "update"),
        _ok(409),
        json=lambda w: {
            "version": 1,
            "disbursed_on": "2026-11-01",
            "amount": "1000",
            "bank_reference": "SWEEP-1",
            "method": "bullet",
        },
    ),
    ("/t/{slug}/api/projects/{project_id}/loan/repayments", "POST"): Sample(
        ("project:loan", "update"),
        _ok(409),
        json=lambda w: {"paid_on": "2026-11-02", "principal": "1"},
    ),
    ("/t/{slug}/api/projects/{project_id}/release", "POST"): Sample(
        ("project:release", "update"), _ok(409), json=lambda w: {"version": 1, "basis": "repaid"}
    ),
    ("/t/{slug}/api/projects/{project_id}/tasks", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/api/projects/{project_id}/tasks/{task_id}/done", "POST"): Sample(
        ("project:aftercare", "update"), _ok(404), json=lambda w: {"note": "正常"}
    ),
    ("/t/{slug}/api/projects/{project_id}/warnings/check", "POST"): Sample(
        ("project:raise_warning", "update"), json=lambda w: {}
    ),
    # The staff page's in-force forms: the world's record has no project (404 past the grants).
    ("/t/{slug}/forms/{form_id}/records/{record_id}/documents/repayments", "POST"): Sample(
        ("project:loan", "update"), _ok(404), form=lambda w: {"principal": "1"}
    ),
    ("/t/{slug}/forms/{form_id}/records/{record_id}/documents/tasks/{task_id}", "POST"): Sample(
        ("project:aftercare", "update"), _ok(404), form=lambda w: {"note": "正常"}
    ),
    ("/t/{slug}/api/projects/{project_id}/timeline", "GET"): Sample(("project:*", "read")),
    # The staff pages of projects and tickets (their posts answer with a redirect).
    ("/t/{slug}/projects", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/projects/{project_id}", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/projects/{project_id}/events", "POST"): Sample(
        ("project:accept", "update"), _ok(303), form=lambda w: {"event": "accept", "version": "1"}
    ),
    ("/t/{slug}/projects/{project_id}/tickets", "POST"): Sample(
        ("ticket:*", "create"),
        _ok(303),
        form=lambda w: {"subject": "扫描", "category": "other", "priority": "low", "body": "问"},
    ),
    ("/t/{slug}/tickets", "GET"): Sample(("ticket:*", "read")),
    ("/t/{slug}/tickets/{ticket_id}", "GET"): Sample(("ticket:*", "read")),
    ("/t/{slug}/tickets/{ticket_id}/reply", "POST"): Sample(
        ("ticket:*", "reply"), _ok(303), form=lambda w: {"body": "答"}
    ),
    ("/t/{slug}/tickets/{ticket_id}/act", "POST"): Sample(
        ("ticket:*", "update"), _ok(303), form=lambda w: {"action": "start", "version": "1"}
    ),
    ("/t/{slug}/tickets/{ticket_id}/assign", "POST"): Sample(
        ("ticket:*", "assign"),
        _ok(303),
        form=lambda w: {"assignee_id": w.holder_id, "version": "1"},
    ),
    # Default and recovery: the world's project is a draft, so the facts that need a later
    # state are refused past the grant (409), and the made-up recovery action is 404.
    # The whole path: tests/test_project_default.py.
    ("/t/{slug}/api/projects/totals", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/api/projects/{project_id}/default", "GET"): Sample(("project:*", "read")),
    ("/t/{slug}/api/projects/{project_id}/overdue", "POST"): Sample(
        ("project:mark_overdue", "update"),
        _ok(409),
        json=lambda w: {
            "version": 1,
            "notice_ref": "N-1",
            "notice_date": "2026-03-01",
            "days_overdue": 3,
            "principal": "1000.00",
            "interest": "0",
        },
    ),
    ("/t/{slug}/api/projects/{project_id}/overdue/cure", "POST"): Sample(
        ("project:cure_overdue", "update"),
        _ok(409),
        json=lambda w: {"version": 1, "cured_on": "2026-03-01"},
    ),
    ("/t/{slug}/api/projects/{project_id}/compensation", "POST"): Sample(
        ("project:compensate", "update"),
        _ok(409),
        json=lambda w: {
            "version": 1,
            "amount": "1000.00",
            "paid_on": "2026-03-01",
            "bank_receipt_ref": "R-1",
        },
    ),
    ("/t/{slug}/api/projects/{project_id}/recoveries", "POST"): Sample(
        ("project:start_recovery", "update"),
        _ok(409),
        json=lambda w: {"kind": "demand", "started_on": "2026-03-01"},
    ),
    ("/t/{slug}/api/projects/{project_id}/recoveries/{recovery_id}/receipts", "POST"): Sample(
        ("project:start_recovery", "update"),
        _ok(404),
        json=lambda w: {"amount": "1.00", "received_on": "2026-03-01"},
    ),
    ("/t/{slug}/api/projects/{project_id}/recoveries/{recovery_id}/close", "POST"): Sample(
        ("project:close_recovery", "update"), _ok(404), json=lambda w: {"closed_on": "2026-03-01"}
    ),
    ("/t/{slug}/api/projects/{project_id}/write-off", "POST"): Sample(
        ("project:write_off", "update"),
        _ok(409),
        json=lambda w: {
            "version": 1,
            "written_off_on": "2026-03-01",
            "evidence": [
                {
                    "kind": "court_judgment",
                    "reference": "J-1",
                    "issued_on": "2026-03-01",
                    "issuer": "法院",
                }
            ],
        },
    ),
}


def _grid(files: dict[str, Any]) -> dict[str, Any]:
    """The permission grid's checkboxes exactly as published, so saving changes nothing."""
    grants = files["permissions.json"]["grants"]
    return {
        f"g|{role}|{resource}|{action}": "on"
        for role, resources in grants.items()
        for resource, actions in resources.items()
        for action in actions
    }


def test_every_route_has_a_sample() -> None:
    missing = [route for route in ROUTES if route not in SAMPLES]
    assert not missing, (
        f"routes without a sample in tests/test_route_sweep.py SAMPLES: {missing}. Add each "
        "with the grant that opens it (resource, action; None if any signed-in user may "
        "call it) and the query, JSON or form fields of a request that succeeds"
    )
    stale = [route for route in SAMPLES if route not in ROUTES]
    assert not stale, f"SAMPLES names routes the route table no longer has: {stale}"


@pytest.fixture(scope="module")
async def world(
    app: Starlette, tenants: dict[str, TenantFixture], tmp_path_factory: pytest.TempPathFactory
) -> World:
    slug = f"sweep{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    # general_manager: the events no other role of these holds (compensate, write_off).
    roles = ("admin", "account_manager", "risk_officer", "general_manager")
    holder = f"holder@{slug}.test"
    context = TenantFixture(slug, tenant.id, "", "").context
    with tenant_scope(context):
        async with in_transaction():
            user = await create_user(holder, "全部权限", PASSWORD, list(roles), "business")
            other = await create_user(f"other@{slug}.test", "被修改的用户", PASSWORD, ["legal"])
            # The first approver of the world's approval (its submitter may not approve it).
            await create_user(f"am@{slug}.test", "第二客户经理", PASSWORD, ["account_manager"])
            token, _ = await issue_api_token(user, "to revoke", days=None)
    beta = tenants["beta"]
    transport = httpx.ASGITransport(app=app)
    ids = []
    for slug_, email in ((slug, holder), (slug, holder), ("beta", beta.manager_email)):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            csrf = await sign_in(client, slug_, email)
            name = f"外部机密{uuid.uuid4().hex[:6]}" if slug_ == "beta" else "扫描记录"
            created = await client.post(
                f"/t/{slug_}/api/forms/application/records",
                json={"data": {**VALID, "applicant_name": name}},
                headers={"X-CSRF-Token": csrf},
            )
            assert created.status_code == 201, created.text
            ids.append((created.json()["id"], name))
    for_projects = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        headers = {"X-CSRF-Token": await sign_in(client, slug, holder)}
        for _ in range(3):
            made = await client.post(
                f"/t/{slug}/api/forms/application/records",
                json={"data": {**VALID, "applicant_name": "扫描项目"}},
                headers=headers,
            )
            assert made.status_code == 201, made.text
            rid = made.json()["id"]
            done = await client.post(
                f"/t/{slug}/api/forms/application/records/{rid}/submit", headers=headers
            )
            assert done.status_code == 200, done.text
            for_projects.append(rid)
        project = await client.post(
            f"/t/{slug}/api/projects", json={"record_id": for_projects[0]}, headers=headers
        )
        assert project.status_code == 201, project.text
        page_project = await client.post(
            f"/t/{slug}/api/projects", json={"record_id": for_projects[2]}, headers=headers
        )
        assert page_project.status_code == 201, page_project.text
        tickets = {}
        for use in ("show", "api_assign", "api_action", "page_assign", "page_action"):
            opened = await client.post(
                f"/t/{slug}/api/projects/{project.json()['id']}/tickets",
                json={"subject": "扫描工单", "category": "other", "body": use},
                headers=headers,
            )
            assert opened.status_code == 201, opened.text
            tickets[use] = opened.json()["id"]
    files = load_bundle(TEMPLATE).to_dict()
    files.update(load_bundle(starter_with_documents(tmp_path_factory.mktemp("b") / "b")).to_dict())
    form = files["forms/application.json"]
    form["schema"]["properties"]["sweep_note"] = {"type": "string", "title": "备注"}
    form["ui"]["layout"][-1]["fields"].append("sweep_note")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        headers = {"X-CSRF-Token": await sign_in(client, slug, holder)}
        published = await client.post(
            f"/t/{slug}/api/definitions/versions", json={"files": files}, headers=headers
        )
        assert published.status_code == 201 and published.json()["number"] == 2
        runs = []
        for _ in range(2):
            planned = await client.post(
                f"/t/{slug}/api/forms/application/migrations",
                json={"from_version": 1, "to_version": 2, "operations": []},
                headers=headers,
            )
            assert planned.status_code == 201, planned.text
            runs.append(planned.json()["id"])
        made = await client.post(
            f"/t/{slug}/api/forms/application/records", json={"data": VALID}, headers=headers
        )
        approval_record = made.json()["id"]
        submitted = await client.post(
            f"/t/{slug}/api/forms/application/records/{approval_record}/submit", headers=headers
        )
        assert submitted.status_code == 200, submitted.text
        started = await client.post(
            f"/t/{slug}/api/forms/application/records/{approval_record}/approval",
            headers={**headers, "Idempotency-Key": "sweep-world"},
        )
        assert started.status_code == 201, started.text
        wf_runs = []
        for _ in range(2):
            planned = await client.post(
                f"/t/{slug}/api/workflows/review/migrations",
                json={"from_version": 1, "to_version": 2},
                headers=headers,
            )
            assert planned.status_code == 201, planned.text
            wf_runs.append(planned.json()["id"])
        enabled = await client.put(
            f"/t/{slug}/api/plugins/sandbox.messaging",
            json={"settings": {"sender": "担保云"}},
            headers=headers,
        )
        assert enabled.status_code == 200, enabled.text
    return World(
        slug=slug,
        holder=holder,
        holder_roles=roles,
        holder_id=str(user.id),
        record_id=ids[0][0],
        submit_id=ids[1][0],
        token_id=str(token.id),
        user_id=str(other.id),
        run_id=runs[0],
        page_run_id=runs[1],
        instance_id=started.json()["instance"]["id"],
        wf_migration_ids=(wf_runs[0], wf_runs[1]),
        project_id=project.json()["id"],
        project_record_id=for_projects[1],
        tickets=tickets,
        page_project_id=page_project.json()["id"],
        files=files,
        form_text=json.dumps(form, ensure_ascii=False),
        foreign=(beta.admin_email, beta.manager_email, str(beta.id), *ids[2]),
    )


def _path(path: str, world: World) -> str:
    submitted = path.endswith(("/submit", "/approval"))
    record = world.submit_id if submitted else world.record_id
    page_run = path.startswith("/t/{slug}/admin/") and path.endswith("/run")
    ticket_use = "assign" if path.endswith("/assign") else "action" if "/act" in path else "show"
    if ticket_use != "show":
        ticket_use = ("api_" if "/api/" in path else "page_") + ticket_use
    page_event = path == "/t/{slug}/projects/{project_id}/events"
    values = {
        "slug": world.slug,
        "form_id": "application",
        "record_id": record,
        "token_id": world.token_id,
        "user_id": world.user_id,
        "number": "1",
        "run_id": world.page_run_id if page_run else world.run_id,
        "plugin_id": "sandbox.messaging",
        "field": "business_licence",
        "attachment_id": "00000000-0000-0000-0000-0000000000a1",
        "instance_id": world.instance_id,
        "project_id": world.page_project_id if page_event else world.project_id,
        "event": "accept",
        "doc_id": "letter",
        "document_id": "00000000-0000-0000-0000-0000000000a2",
        "token": "sweep-token-unknown-0123456789",
        "proxy_id": "00000000-0000-0000-0000-0000000000b1",
        "ticket_id": world.tickets[ticket_use],
        "action": "start",
        "item_id": "00000000-0000-0000-0000-0000000000c1",
        "task_id": "00000000-0000-0000-0000-0000000000c2",
        "workflow_id": "review",
        "migration_id": world.wf_migration_ids[1 if page_run else 0],
        "recovery_id": "00000000-0000-0000-0000-0000000000c1",
    }
    return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], path)


@pytest.mark.parametrize(("path", "method"), ROUTES)
async def test_a_user_with_the_permission_is_served(
    app: Starlette, world: World, path: str, method: str
) -> None:
    sample = SAMPLES.get((path, method))
    if sample is None:
        pytest.fail(f"no sample for {method} {path}: see test_every_route_has_a_sample")
    if sample.needs is not None:
        enforcer = TenantEnforcer(compile_permissions("sweep", world.files["permissions.json"], {}))
        assert enforcer.allowed(world.holder_roles, *sample.needs), (path, sample.needs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        csrf = await sign_in(client, world.slug, world.holder)
        kwargs: dict[str, Any] = {"headers": {"X-CSRF-Token": csrf}}
        if sample.headers is not None:
            kwargs["headers"].update(sample.headers(world))
        if sample.query is not None:
            kwargs["params"] = sample.query(world)
        if sample.json is not None:
            kwargs["json"] = sample.json(world)
        if sample.form is not None:
            fields = {"csrf_token": csrf, **sample.form(world)}
            if path.endswith("/login"):  # before a session: the sign-in form's own token
                await client.get(_path(path, world))
                fields["csrf_token"] = client.cookies.get(LOGIN_CSRF_COOKIE)
            kwargs["data"] = fields
        response = await client.request(method, _path(path, world), **kwargs)
    assert response.status_code in sample.ok, (method, path, response.status_code, response.text)
    body = response.content.decode("utf-8", "replace")
    leaked = [marker for marker in world.foreign if marker in body]
    assert not leaked, (method, path, leaked)


# --- the customer portal (its own sessions: docs/portal.md) -----------------------------
#
# Portal routes are mounted apart from the staff pages: a staff session, anonymous callers
# and another tenant's applicants are all sent to the portal's sign-in (pages) or get 401
# (its API); an applicant is served on every route, and each route needs a sample here.

PORTAL_ROUTES = [
    ("/t/{slug}/portal" + route.path, method)
    for route in portal_routes.ROUTES
    if isinstance(route, Route)
    for method in sorted(route.methods or set())
    if method != "HEAD"
]
PORTAL_PUBLIC = {
    ("/t/{slug}/portal/login", "GET"),
    ("/t/{slug}/portal/login", "POST"),
    ("/t/{slug}/portal/login/verify", "POST"),
}


@dataclass(frozen=True)
class PortalSample:
    ok: frozenset[int] = frozenset({200})
    form: Callable[[str], dict[str, Any]] | None = None  # given the session's CSRF token
    own_session: bool = False  # signs itself out: a session of its own


PORTAL_SAMPLES: dict[tuple[str, str], PortalSample] = {
    ("/t/{slug}/portal/login", "GET"): PortalSample(),
    ("/t/{slug}/portal/login", "POST"): PortalSample(
        form=lambda csrf: {"destination": "sweep-portal@example.com"}
    ),
    ("/t/{slug}/portal/login/verify", "POST"): PortalSample(
        _ok(401), form=lambda csrf: {"challenge": str(uuid.uuid4()), "code": "000000"}
    ),
    ("/t/{slug}/portal/logout", "POST"): PortalSample(
        _ok(303), form=lambda csrf: {"csrf_token": csrf}, own_session=True
    ),
    ("/t/{slug}/portal/", "GET"): PortalSample(),
    ("/t/{slug}/portal/apply", "GET"): PortalSample(),
    ("/t/{slug}/portal/apply", "POST"): PortalSample(
        _ok(303), form=lambda csrf: application_form(csrf, action="save")
    ),
    ("/t/{slug}/portal/applications/{record_id}", "GET"): PortalSample(),
    ("/t/{slug}/portal/applications/{record_id}", "POST"): PortalSample(
        _ok(303), form=lambda csrf: application_form(csrf, action="save", purpose="扫描补充")
    ),
    ("/t/{slug}/portal/projects/{project_id}", "GET"): PortalSample(),
    # No letter is issued in the world and its form has no attachment field: the made-up
    # document and field are 404 (real ones: tests/test_portal.py).
    ("/t/{slug}/portal/projects/{project_id}/documents/{document_id}/pdf", "GET"): (
        PortalSample(_ok(404))
    ),
    ("/t/{slug}/portal/projects/{project_id}/repayments/{repayment_id}/receipt", "GET"): (
        PortalSample(_ok(404))
    ),
    ("/t/{slug}/portal/api/forms/{form_id}/attachments/{field}", "POST"): PortalSample(
        _ok(404), form=lambda csrf: {}
    ),
    ("/t/{slug}/portal/api/attachments/{attachment_id}", "GET"): PortalSample(_ok(404)),
    # Service tickets (the fixture opened two on its project: one to read and answer, one
    # to close).
    ("/t/{slug}/portal/projects/{project_id}/tickets", "POST"): PortalSample(
        _ok(303),
        form=lambda csrf: {
            "csrf_token": csrf,
            "subject": "扫描",
            "category": "other",
            "body": "问",
        },
    ),
    ("/t/{slug}/portal/tickets/{ticket_id}", "GET"): PortalSample(),
    ("/t/{slug}/portal/tickets/{ticket_id}/reply", "POST"): PortalSample(
        _ok(303), form=lambda csrf: {"csrf_token": csrf, "body": "补充"}
    ),
    ("/t/{slug}/portal/tickets/{ticket_id}/act", "POST"): PortalSample(
        _ok(303), form=lambda csrf: {"csrf_token": csrf, "action": "close", "version": "1"}
    ),
}


def test_every_portal_route_has_a_sample() -> None:
    assert ("/t/{slug}/portal/", "GET") in PORTAL_ROUTES
    assert sorted(PORTAL_ROUTES) == sorted(PORTAL_SAMPLES), "portal routes and samples differ"


@dataclass(frozen=True)
class Applicant:
    token: str
    csrf: str
    record_id: str
    project_id: str
    tickets: dict[str, str]


@pytest.fixture(scope="module")
async def applicant(app: Starlette, world: World) -> Applicant:
    """An applicant of the world (which enabled sandbox.messaging) with a draft and a
    submitted application, hence a project."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        csrf = await portal_sign_in(client, world.slug, "13912340001")
        draft = await client.post(
            portal(world.slug, "apply"), data=application_form(csrf, action="save")
        )
        submitted = await client.post(
            portal(world.slug, "apply"), data=application_form(csrf, action="submit")
        )
        assert draft.status_code == submitted.status_code == 303, submitted.text
        project_id = submitted.headers["location"].split("/")[-1].split("?")[0]
        tickets = {}
        for use in ("show", "act"):
            opened = await client.post(
                portal(world.slug, "projects", project_id, "tickets"),
                data={"csrf_token": csrf, "subject": "扫描", "category": "other", "body": use},
            )
            assert opened.status_code == 303, opened.text
            tickets[use] = opened.headers["location"].split("?")[0].rsplit("/", 1)[1]
        token = client.cookies.get(PORTAL_COOKIE)
    assert token
    return Applicant(
        token,
        csrf,
        draft.headers["location"].split("/")[-1].split("?")[0],
        project_id,
        tickets,
    )


def _portal_path(path: str, slug: str, applicant: Applicant | None) -> str:
    values = {
        "slug": slug,
        "record_id": applicant.record_id if applicant else str(uuid.uuid4()),
        "project_id": applicant.project_id if applicant else str(uuid.uuid4()),
        "document_id": "00000000-0000-0000-0000-0000000000a3",
        "repayment_id": "00000000-0000-0000-0000-0000000000a5",
        "attachment_id": "00000000-0000-0000-0000-0000000000a4",
        "form_id": "application",
        "field": "business_licence",
        "ticket_id": (
            applicant.tickets["act" if path.endswith("/act") else "show"]
            if applicant
            else str(uuid.uuid4())
        ),
    }
    return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], path)


def _sent_to_portal_sign_in(response: httpx.Response, path: str, slug: str) -> None:
    if "/portal/api/" in path:
        assert response.status_code == 401, (path, response.status_code)
    else:
        assert response.status_code == 303, (path, response.status_code)
        assert response.headers["location"].endswith(f"/t/{slug}/portal/login")


@pytest.mark.parametrize(("path", "method"), [r for r in PORTAL_ROUTES if r not in PORTAL_PUBLIC])
async def test_portal_refuses_anonymous_staff_and_other_tenants_applicants(
    make_client: ClientFactory,
    tenants: dict[str, TenantFixture],
    applicant: Applicant,
    path: str,
    method: str,
) -> None:
    url = _portal_path(path, "alpha", None)
    async with make_client() as client:
        anonymous = await client.request(method, url)
    _sent_to_portal_sign_in(anonymous, path, "alpha")
    async with make_client() as client:  # alpha's administrator: a staff session
        csrf = await sign_in(client, "alpha", tenants["alpha"].admin_email)
        staff = await client.request(method, url, headers={"X-CSRF-Token": csrf})
    _sent_to_portal_sign_in(staff, path, "alpha")
    async with make_client() as client:  # the world's applicant, at alpha
        client.cookies.set(PORTAL_COOKIE, applicant.token)
        foreign = await client.request(method, url, headers={"X-CSRF-Token": applicant.csrf})
    _sent_to_portal_sign_in(foreign, path, "alpha")
    assert "admin@alpha.test" not in anonymous.text + staff.text + foreign.text


@pytest.mark.parametrize(("path", "method"), PORTAL_ROUTES)
async def test_an_applicant_is_served_on_every_portal_route(
    app: Starlette, world: World, applicant: Applicant, path: str, method: str
) -> None:
    sample = PORTAL_SAMPLES[(path, method)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        if sample.own_session:
            csrf = await portal_sign_in(client, world.slug, "13912340002")
        else:
            client.cookies.set(PORTAL_COOKIE, applicant.token)
            csrf = applicant.csrf
        kwargs: dict[str, Any] = {"headers": {"X-CSRF-Token": csrf}}
        if sample.form is not None:
            fields = sample.form(csrf)
            if path.endswith(("/login", "/verify")):  # before a session: the form's own token
                await client.get(portal(world.slug, "login"))
                fields["csrf_token"] = client.cookies.get(PORTAL_LOGIN_CSRF) or ""
            kwargs["data"] = fields
        response = await client.request(method, _portal_path(path, world.slug, applicant), **kwargs)
    assert response.status_code in sample.ok, (method, path, response.status_code, response.text)
    body = response.content.decode("utf-8", "replace")
    assert not [marker for marker in world.foreign if marker in body], (method, path)
