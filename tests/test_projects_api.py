"""The projects API: create from a submitted record, list and get in the caller's scope,
events with dry runs, refusals that name what is wrong, other tenants' projects 404."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, Project
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in
from .projects_helpers import finished_approval, projects_url, submitted_record
from .records_helpers import new_user, records_url


async def transitions_of(tenant: TenantFixture, project_id: str) -> list[AuditEvent]:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await AuditEvent.filter(
                action="project.transition", object_id=project_id
            ).order_by("seq")


async def post_event(
    client: httpx.AsyncClient, csrf: str, slug: str, pid: str, event: str, **body: Any
) -> httpx.Response:
    return await client.post(
        projects_url(slug, pid, "events", event), json=body, headers={"X-CSRF-Token": csrf}
    )


async def test_a_project_from_application_to_review(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"], "business")
    rid = await submitted_record(make_client, alpha, email, amount=4500000)
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", email)
        created = await client.post(
            projects_url("alpha"), json={"record_id": rid}, headers={"X-CSRF-Token": csrf}
        )
        assert created.status_code == 201, created.text
        project = created.json()
        pid = project["id"]
        assert project["state"] == {"code": "DRAFT", "name": "草稿"} and project["version"] == 1
        assert project["attributes"]["amount"] == "4500000.00"
        assert project["attributes"]["client_type"] == "small"
        assert [(e["event"], e["name"], e["permitted"]) for e in project["events"]] == [
            ("accept", "受理", True),
            ("withdraw", "撤回", True),
        ]
        again = await client.post(
            projects_url("alpha"), json={"record_id": rid}, headers={"X-CSRF-Token": csrf}
        )
        assert again.status_code == 409 and again.json()["error"]["code"] == "project_exists"

        listed = await client.get(projects_url("alpha"), params={"state": "DRAFT"})
        assert pid in [p["id"] for p in listed.json()["items"]]
        shown = await client.get(projects_url("alpha", pid), params={"lang": "en"})
        assert shown.json()["state"]["name"] == "Draft"
        assert shown.json()["events"][0]["name"] == "Accept"

        preview = await post_event(client, csrf, "alpha", pid, "accept", dry_run=True)
        assert preview.status_code == 200, preview.text
        assert preview.json()["applied"] is False
        assert preview.json()["transition"]["to"] == {"code": "SUBMITTED", "name": "已受理"}
        assert preview.json()["project"]["state"]["code"] == "DRAFT"
        assert await transitions_of(alpha, pid) == []

        missing_version = await post_event(client, csrf, "alpha", pid, "accept")
        assert missing_version.status_code == 400
        accepted = await post_event(client, csrf, "alpha", pid, "accept", version=1, reason="齐")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["applied"] is True
        assert accepted.json()["project"]["state"]["code"] == "SUBMITTED"
        assert accepted.json()["project"]["version"] == 2

        stale = await post_event(client, csrf, "alpha", pid, "start_due_diligence", version=1)
        assert stale.status_code == 409
        assert stale.json()["error"]["code"] == "project_stale"
        assert stale.json()["error"]["details"] == [
            {"state": {"code": "SUBMITTED", "name": "已受理"}, "version": 2}
        ]
        wrong = await post_event(client, csrf, "alpha", pid, "confirm_disbursement", version=2)
        assert wrong.status_code == 409
        error = wrong.json()["error"]
        assert error["code"] == "project_not_allowed"
        assert "confirm_disbursement" in error["message"] and "SUBMITTED" in error["message"]
        assert "LETTER_ISSUED" in error["message"]
        assert error["details"][0]["allowed_from"] == [{"code": "LETTER_ISSUED", "name": "已出函"}]
        unknown = await post_event(client, csrf, "alpha", pid, "teleport", version=2)
        assert unknown.status_code == 404 and "teleport" in unknown.json()["error"]["message"]
        refused = await post_event(client, csrf, "alpha", pid, "approve", version=2)
        assert refused.status_code == 403  # account managers do not approve

        for event, version in (("start_due_diligence", 2), ("submit_for_review", 3)):
            moved = await post_event(client, csrf, "alpha", pid, event, version=version)
            assert moved.status_code == 200, moved.text
    [*_, last] = await transitions_of(alpha, pid)
    assert (last.data["event"], last.data["from"], last.data["to"]) == (
        "submit_for_review",
        "DUE_DILIGENCE",
        "UNDER_REVIEW",
    )
    assert len(await transitions_of(alpha, pid)) == 3

    risk, _ = await new_user(alpha, ["risk_officer"], "risk")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", risk)
        needs = await post_event(client, csrf, "alpha", pid, "approve", version=4)
        assert needs.status_code == 409
        assert needs.json()["error"]["code"] == "project_approval_required"
        assert "approve" in needs.json()["error"]["message"]
        refused = await post_event(
            client, csrf, "alpha", pid, "approve", version=4, approval_id=str(uuid.uuid4())
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "project_approval_other_record"
        approval = await finished_approval(alpha, rid)
        approved = await post_event(
            client, csrf, "alpha", pid, "approve", version=4, approval_id=str(approval)
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["project"]["state"]["code"] == "APPROVED"


async def test_projects_follow_the_application_scope_and_the_tenant(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    owner, _ = await new_user(alpha, ["account_manager"], "business")
    other, _ = await new_user(alpha, ["account_manager"], "business")
    rid = await submitted_record(make_client, alpha, owner)
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", owner)
        pid = (
            await client.post(
                projects_url("alpha"), json={"record_id": rid}, headers={"X-CSRF-Token": csrf}
            )
        ).json()["id"]
    async with make_client() as client:  # another account manager: own scope, not theirs
        csrf = await sign_in(client, "alpha", other)
        listed = await client.get(projects_url("alpha"))
        assert listed.status_code == 200 and pid not in [p["id"] for p in listed.json()["items"]]
        assert (await client.get(projects_url("alpha", pid))).status_code == 404
        moved = await post_event(client, csrf, "alpha", pid, "accept", version=1)
        assert moved.status_code == 404
        made = await client.post(
            projects_url("alpha"), json={"record_id": rid}, headers={"X-CSRF-Token": csrf}
        )
        assert made.status_code == 404
    async with make_client() as client:  # another tenant, through its own slug
        csrf = await sign_in(client, "beta", beta.manager_email)
        assert (await client.get(projects_url("beta", pid))).status_code == 404
        moved = await post_event(client, csrf, "beta", pid, "accept", version=1)
        assert moved.status_code == 404
        made = await client.post(
            projects_url("beta"), json={"record_id": rid}, headers={"X-CSRF-Token": csrf}
        )
        assert made.status_code == 404
        assert pid not in (await client.get(projects_url("beta"))).text
    with tenant_scope(alpha.context):
        async with in_transaction():
            project = await Project.get(id=pid)
    assert (project.state, project.version) == ("DRAFT", 1)


async def test_refusals_when_making_a_project(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"], "business")
    odd = await submitted_record(make_client, alpha, email, amount=100000.125)
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", email)
        headers = {"X-CSRF-Token": csrf}
        draft = await client.post(
            records_url("alpha"), json={"data": {"applicant_name": "草稿公司"}}, headers=headers
        )
        not_yet = await client.post(
            projects_url("alpha"), json={"record_id": draft.json()["id"]}, headers=headers
        )
        assert not_yet.status_code == 409
        assert not_yet.json()["error"]["code"] == "project_not_submitted"
        invalid = await client.post(projects_url("alpha"), json={"record_id": odd}, headers=headers)
        assert invalid.status_code == 422, invalid.text
        assert invalid.json()["error"]["details"][0]["pointer"] == "/amount"
        bad = await client.post(projects_url("alpha"), json={}, headers=headers)
        assert bad.status_code == 400


async def test_projects_are_in_the_openapi_document(make_client: ClientFactory) -> None:
    async with make_client() as client:
        document = (await client.get("/t/alpha/api/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/t/{slug}/api/projects"]) == {"get", "post"}
    event = paths["/t/{slug}/api/projects/{project_id}/events/{event}"]["post"]
    assert "dry_run" in str(event["requestBody"]) and "409" in event["responses"]
