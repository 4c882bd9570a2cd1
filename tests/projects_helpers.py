"""Shared by the project tests: submitted application records, and projects made of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import Record, User, WorkflowInstance
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, records_url

PROJECTS = "/t/{slug}/api/projects"


def projects_url(slug: str, *parts: str) -> str:
    return "/".join([PROJECTS.format(slug=slug), *parts])


async def submitted_record(
    make_client: ClientFactory, tenant: TenantFixture, email: str, **data: Any
) -> str:
    """The id of a submitted application record of ``tenant``, created by ``email``."""
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, email)
        headers = {"X-CSRF-Token": csrf}
        created = await client.post(
            records_url(tenant.slug), json={"data": {**VALID, **data}}, headers=headers
        )
        assert created.status_code == 201, created.text
        rid = str(created.json()["id"])
        submitted = await client.post(records_url(tenant.slug, rid, "submit"), headers=headers)
        assert submitted.status_code == 200, submitted.text
    return rid


async def user_by_email(email: str) -> User:
    user = await User.filter(email=email).first()
    assert user is not None
    return user


def uid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


async def finished_approval(
    tenant: TenantFixture, record_id: str | uuid.UUID, status: str = "approved"
) -> uuid.UUID:
    """An approval of ``record_id`` that ended now with ``status``, stored as the engine
    stores one (the engine's own runs are tested in test_workflow_store and the API)."""
    with tenant_scope(tenant.context):
        async with in_transaction():
            record = await Record.get(id=uuid.UUID(str(record_id)))
            submitter = await User.get(id=record.created_by)
            instance = await WorkflowInstance.create(
                tenant_id=tenant.id,
                workflow_id="review",
                definition_version=1,
                plan_hash="test",
                record_id=uuid.UUID(str(record_id)),
                submitter_id=submitter.id,
                status=status,
                finished_at=datetime.now(UTC),
            )
    return instance.id


TO_CONTRACTING = (
    "accept",
    "start_due_diligence",
    "submit_for_review",
    "approve",
    "start_contracting",
)
"""The events from DRAFT to 签约中 (approve with a finished approval of the record)."""


async def advance(
    client: httpx.AsyncClient,
    csrf: str,
    tenant: TenantFixture,
    project_id: str,
    record_id: str,
    events: tuple[str, ...] = TO_CONTRACTING,
) -> dict[str, Any]:
    """Fire ``events`` in order on the project (the caller must be allowed each); the
    project as it stands after the last one."""
    project = (await client.get(projects_url(tenant.slug, project_id))).json()
    for code in events:
        body: dict[str, Any] = {"version": project["version"]}
        if code in ("approve", "reject", "compensate", "write_off"):
            outcome = "rejected" if code == "reject" else "approved"
            body["approval_id"] = str(await finished_approval(tenant, record_id, outcome))
        moved = await client.post(
            projects_url(tenant.slug, project_id, "events", code),
            json=body,
            headers={"X-CSRF-Token": csrf},
        )
        assert moved.status_code == 200, moved.text
        project = moved.json()["project"]
    return project
