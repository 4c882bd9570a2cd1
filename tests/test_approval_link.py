"""The approval chain drives the project (guarantee.approval_link) on real PostgreSQL:
the last approval moves the project in the same transaction, a project in another state
is skipped with an audit event, a project step that fails undoes the whole action."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import (
    AuditEvent,
    Project,
    Record,
    User,
    WorkflowAction,
    WorkflowInstance,
    WorkflowTask,
)
from danbao.definitions import Bundle, load_bundle
from danbao.guarantee import approval_link, service, timeline
from danbao.records.definition import FormDefinition
from danbao.records.sensitive import open_record
from danbao.tenancy.context import Principal, tenant_scope
from danbao.workdays import CHINA, FixedClock
from danbao.workflow import Action
from danbao.workflow.store import act_on, start_instance

from .conftest import TEMPLATE, ClientFactory, TenantFixture
from .projects_helpers import submitted_record, user_by_email
from .records_helpers import new_user

FILES = load_bundle(TEMPLATE).to_dict()


def one_step(approver: str) -> Bundle:
    """The template with a one-node review chain decided by ``approver``."""
    files = load_bundle(TEMPLATE).to_dict()
    files["workflows/review.json"]["nodes"] = [
        {"id": "start", "type": "start", "name": {"zh-CN": "提交"}, "next": "decide"},
        {
            "id": "decide",
            "type": "approve",
            "name": {"zh-CN": "审批"},
            "assignees": [{"kind": "user", "value": approver}],
            "next": "end",
        },
        {"id": "end", "type": "end", "name": {"zh-CN": "结束"}},
    ]
    return Bundle.from_dict(files)


class Rollback(Exception):
    pass


@dataclass
class Case:
    """A project UNDER_REVIEW of ``tenant`` and a running approval of its record."""

    tenant: TenantFixture
    bundle: Bundle
    am: uuid.UUID
    approver: uuid.UUID
    project_id: uuid.UUID
    record_id: uuid.UUID
    instance_id: uuid.UUID
    task: str

    def scope(self, who: uuid.UUID) -> Any:
        return tenant_scope(self.tenant.context.acting_as(Principal("user", str(who))))

    async def decide(self, op: str, *, clock: Any = None, key: str = "decide") -> dict[str, Any]:
        with self.scope(self.approver):
            async with in_transaction():
                answer = await act_on(
                    self.instance_id,
                    Action(op, str(self.approver), task=self.task, version=1),
                    bundle=self.bundle,
                    data={},
                    idempotency_key=key,
                    clock=clock,
                )
        return answer.body

    async def fire(self, event: str) -> None:
        with self.scope(self.am):
            async with in_transaction():
                user = await User.get(id=self.am)
                await service.apply_event(self.project_id, event, expected_version=None, user=user)

    async def read(self) -> tuple[Project, WorkflowInstance, list[AuditEvent]]:
        with tenant_scope(self.tenant.context):
            async with in_transaction():
                project = await Project.get(id=self.project_id)
                instance = await WorkflowInstance.get(id=self.instance_id)
                events = await AuditEvent.filter(object_id=str(self.project_id)).order_by("seq")
        return project, instance, events


async def make_case(app: Starlette, make_client: ClientFactory, tenant: TenantFixture) -> Case:
    keys: TenantKeys = app.state.services.keys
    am_email, am = await new_user(tenant, ["account_manager"], "business")
    approver_email, approver = await new_user(tenant, ["risk_officer"])
    bundle = one_step(approver_email)
    rid = uuid.UUID(await submitted_record(make_client, tenant, am_email))
    form = FormDefinition.from_bundle(bundle, "application")
    ctx = tenant.context.acting_as(Principal("user", str(am)))
    with tenant_scope(ctx):
        async with in_transaction():
            record = await open_record(keys, await Record.get(id=rid))
            user = await user_by_email(am_email)
            project = await service.create_from_record(
                bundle.tenant, form, record, user=user, keys=keys
            )
            for event in ("accept", "start_due_diligence", "submit_for_review"):
                await service.apply_event(project.id, event, expected_version=None, user=user)
            started = await start_instance(
                bundle=bundle,
                version=1,
                workflow_id="review",
                record_id=rid,
                submitter_id=am,
                data={},
                idempotency_key=f"start-{rid}",
            )
    tasks = started.body["instance"]["tasks"]
    assert [t["user"] for t in tasks] == [str(approver)]
    return Case(
        tenant,
        bundle,
        am,
        approver,
        project.id,
        rid,
        uuid.UUID(started.instance_id),
        tasks[0]["task"],
    )


@pytest.fixture
async def case(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> Case:
    return await make_case(app, make_client, tenants["alpha"])


def test_the_template_maps_its_review_chain() -> None:
    tenant = FILES["tenant.json"]
    assert approval_link.event_for(tenant, "review", "approved") == "approve"
    assert approval_link.event_for(tenant, "review", "rejected") == "reject"
    assert approval_link.event_for(tenant, "review", "cancelled") is None
    assert approval_link.event_for(tenant, "other", "approved") is None


async def test_the_last_approval_approves_the_project(case: Case) -> None:
    body = await case.decide("approve")
    assert body["instance"]["status"] == "approved"
    project, instance, events = await case.read()
    assert (project.state, project.version) == ("APPROVED", 5)
    assert instance.status == "approved"
    move = events[-1]
    assert move.action == "project.transition"
    assert move.data["event"] == "approve" and move.data["to"] == "APPROVED"
    assert move.data["approval_id"] == str(case.instance_id)
    assert move.data["actor"] == str(case.approver) and move.actor_id == str(case.approver)
    assert "审批流程 review" in move.data["reason"] and "approved" in move.data["reason"]


async def test_a_rejection_rejects_the_project(case: Case) -> None:
    await case.decide("reject")
    project, instance, events = await case.read()
    assert (instance.status, project.state) == ("rejected", "REJECTED")
    assert events[-1].data["event"] == "reject"
    assert events[-1].data["approval_id"] == str(case.instance_id)


async def test_the_approval_and_the_project_move_in_one_transaction(case: Case) -> None:
    """Inside the action's transaction the project has moved already; rolling that
    transaction back leaves both where they were."""
    with case.scope(case.approver), pytest.raises(Rollback):
        async with in_transaction():
            await act_on(
                case.instance_id,
                Action("approve", str(case.approver), task=case.task, version=1),
                bundle=case.bundle,
                data={},
                idempotency_key="undone",
            )
            assert (await Project.get(id=case.project_id)).state == "APPROVED"
            raise Rollback
    project, instance, _ = await case.read()
    assert (instance.status, project.state, project.version) == ("running", "UNDER_REVIEW", 4)


async def test_a_project_in_another_state_is_skipped_and_the_skip_audited(case: Case) -> None:
    await case.fire("return_to_due_diligence")
    body = await case.decide("approve")
    assert body["instance"]["status"] == "approved"
    project, instance, events = await case.read()
    assert instance.status == "approved"
    assert (project.state, project.version) == ("DUE_DILIGENCE", 5)
    skipped = events[-1]
    assert skipped.action == "project.approval_skipped"
    assert skipped.data == {
        "approval_id": str(case.instance_id),
        "workflow": "review",
        "outcome": "approved",
        "event": "approve",
        "state": "DUE_DILIGENCE",
        "allowed_from": ["UNDER_REVIEW"],
        "why": "not_allowed",
    }
    shown = timeline.describe(skipped, "zh-CN", {})
    assert shown.title == "审批结果未推进项目"
    assert shown.lines == ["批准：项目处于尽调中，该操作须在评审中时进行"]


async def test_a_failed_project_step_undoes_the_whole_action(case: Case) -> None:
    """An approval finishing on a clock behind the project's last move is a stale
    reference (approval_check: ``earlier``): the action is refused with a 409 and neither
    the approval, its task, its log nor the project changes."""
    past = FixedClock(dt.datetime(2020, 1, 2, 10, tzinfo=CHINA))
    with pytest.raises(approval_link.ProjectDidNotFollow) as refused:
        await case.decide("approve", clock=past, key="stale")
    assert refused.value.status == 409 and "approve" in refused.value.message
    project, instance, events = await case.read()
    assert (instance.status, instance.revision, instance.finished_at) == ("running", 1, None)
    assert (project.state, project.version) == ("UNDER_REVIEW", 4)
    assert events[-1].data["event"] == "submit_for_review"
    with tenant_scope(case.tenant.context):
        async with in_transaction():
            assert await WorkflowAction.filter(instance_id=case.instance_id).count() == 1
            assert await WorkflowTask.filter(instance_id=case.instance_id).count() == 1
            assert not await AuditEvent.filter(
                action="workflow.approve", object_id=str(case.instance_id)
            ).exists()
    # The same approver, on a true clock, then finishes it and the project follows.
    await case.decide("approve", key="again")
    project, instance, _ = await case.read()
    assert (instance.status, project.state) == ("approved", "APPROVED")


async def test_an_approval_of_another_tenant_never_moves_a_project(
    case: Case, tenants: dict[str, TenantFixture]
) -> None:
    """Even an instance naming alpha's record, followed in beta or carrying beta's id,
    finds no project: the lookup is the instance's tenant, under RLS."""
    beta = tenants["beta"]
    foreign = WorkflowInstance(
        id=uuid.uuid4(),
        tenant_id=beta.id,
        workflow_id="review",
        record_id=case.record_id,
        status="approved",
    )
    for scope in (beta.context, case.tenant.context):
        with tenant_scope(scope):
            async with in_transaction():
                await approval_link.follow(foreign, FILES["tenant.json"], uuid.uuid4())
    project, instance, events = await case.read()
    assert (project.state, instance.status) == ("UNDER_REVIEW", "running")
    assert events[-1].data["event"] == "submit_for_review"
