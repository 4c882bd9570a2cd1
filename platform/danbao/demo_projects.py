"""The demo's guarantee projects (``tenants/demo.json`` ``projects``): each one played
through the same services the API uses, as the demo people would — the application
filled in and submitted, the project made and accepted, the counter-guarantees taken in
due diligence, the guarantor's own approval chain run to its end, the contract signed
and the letter issued with the tenant's seal, the bank's disbursement a few months ago
with its schedule, the instalments already due repaid on their dates, one visit done.

So ``make demo`` opens on a guarantee 在保 with a schedule, repayments, counter-
guarantees with their coverage, post-loan tasks and a letter whose QR code verifies. A
spec with ``default`` goes on: the borrower stops paying after ``repaid_instalments``,
the bank's overdue notice is registered, the guarantor compensates on a second run of
its approval chain, and recovery actions bring part of it back (追偿中, partial recovery).
Idempotent: a guarantor that has any project already is left alone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from danbao.authz.fields import FieldRule, FieldRules
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Project, Record, Tenant, User, WorkflowInstance, WorkflowTask
from danbao.definitions import Bundle
from danbao.documents.issuing import issue
from danbao.forms.identifiers import today_in_china
from danbao.guarantee import aftercare, counter, default, loan, recovery
from danbao.guarantee.service import apply_event, create_from_record
from danbao.guarantee.values import add_months
from danbao.plugins.gateway import PluginGateway
from danbao.records import actions
from danbao.records.definition import FormDefinition
from danbao.records.numbering import pattern_for
from danbao.records.sensitive import open_record
from danbao.storage import ObjectStore
from danbao.tenancy.context import Principal, TenantContext, TenantId, tenant_scope
from danbao.workflow.engine import Action
from danbao.workflow.store import act_on, start_instance

MAX_APPROVAL_STEPS = 20


class Story:
    """One demo project being played in one tenant."""

    def __init__(
        self,
        tenant: Tenant,
        bundle: Bundle,
        version: int,
        *,
        keys: TenantKeys,
        store: ObjectStore,
        verify_base: str,
    ) -> None:
        self.tenant, self.bundle, self.version = tenant, bundle, version
        self.keys, self.store, self.verify_base = keys, store, verify_base
        self.gateway = PluginGateway(keys)

    @asynccontextmanager
    async def acting(self, user: User) -> AsyncIterator[None]:
        """One transaction as ``user`` (the scope first: RLS reads it at the first statement)."""
        context = TenantContext(
            TenantId(self.tenant.id), self.tenant.slug, Principal("user", str(user.id), user.name)
        )
        with tenant_scope(context):
            async with in_transaction():
                yield

    async def user(self, email: str) -> User:
        context = TenantContext(
            TenantId(self.tenant.id), self.tenant.slug, Principal.system("demo")
        )
        with tenant_scope(context):
            async with in_transaction():
                return await User.get(email=email)

    async def play(self, spec: dict[str, Any]) -> str:
        am = await self.user(spec["account_manager"])
        risk = await self.user(spec["risk_officer"])
        finance = await self.user(spec["finance"])
        form = FormDefinition.from_bundle(self.bundle, spec["form"])
        writable = FieldRules({}, FieldRule.WRITABLE)

        async with self.acting(am):
            record = await actions.create_draft(
                form,
                self.version,
                spec["data"],
                user=am,
                rules=writable,
                locale="zh-CN",
                keys=self.keys,
            )
            pattern = pattern_for(self.bundle.tenant, form.numbering_key)
            record = await actions.submit(record, form, pattern, locale="zh-CN", keys=self.keys)
            project = await create_from_record(
                self.bundle.tenant, form, record, user=am, keys=self.keys
            )
            for event in ("accept", "start_due_diligence"):
                await apply_event(project.id, event, expected_version=None, user=am)
        async with self.acting(risk):
            for item in spec["counter_guarantees"]:
                await counter.add(project, counter.read(item), risk)
        async with self.acting(am):
            await apply_event(project.id, "submit_for_review", expected_version=None, user=am)
            instance = await start_instance(
                bundle=self.bundle,
                version=self.version,
                workflow_id=spec["workflow"],
                record_id=record.id,
                submitter_id=am.id,
                data=record.data,
                sensitive=form.sensitive_fields,
                idempotency_key=f"demo-{record.id}",
            )
        # The chain's last approval moves the project to APPROVED itself (approval_link).
        await self._approve(uuid.UUID(instance.instance_id), record.id, form)
        async with self.acting(am):
            await apply_event(project.id, "start_contracting", expected_version=None, user=am)
        for who, document in ((am, "contract"), (finance, "letter")):
            async with self.acting(who):
                fresh = await self._opened(record.id, form)
                await issue(
                    self.bundle,
                    self.version,
                    document,
                    fresh,
                    gateway=self.gateway,
                    store=self.store,
                    verify_base=self.verify_base,
                    issued_by=str(who.id),
                )
        await self._in_force(project.id, spec["loan"], am, finance)
        if "default" in spec:
            await self._default(project.id, record.id, form, spec, risk, finance)
        return project.number

    async def _opened(self, record_id: uuid.UUID, form: FormDefinition) -> Record:
        row = await Record.get(id=record_id)
        return await open_record(self.keys, row)

    async def _approve(self, instance_id: uuid.UUID, record_id: uuid.UUID, form: Any) -> None:
        """Each open task of the chain approved by its own assignee (claimed first when it
        is offered to a group), until the chain ends."""
        for _ in range(MAX_APPROVAL_STEPS):
            system = TenantContext(TenantId(self.tenant.id), self.tenant.slug)
            with tenant_scope(system.acting_as(Principal.system("demo"))):
                async with in_transaction():
                    status = (await WorkflowInstance.get(id=instance_id)).status
                    task = (
                        await WorkflowTask.filter(instance_id=instance_id, status="open")
                        .order_by("created_at")
                        .first()
                    )
                    approver = await User.get(id=task.user_id) if task else None
            if status != "running" or task is None or approver is None:
                break
            async with self.acting(approver):
                record = await self._opened(record_id, form)
                await act_on(
                    instance_id,
                    Action(
                        # a task offered to a group (a claim task) is claimed first
                        op="claim" if task.kind == "claim" else "approve",
                        actor=str(approver.id),
                        task=task.task_key,
                        version=task.version,
                        comment="同意",
                    ),
                    bundle=self.bundle,
                    data=record.data,
                    sensitive=form.sensitive_fields,
                    idempotency_key=f"demo-{task.id}-{task.kind}-{task.version}",
                )

    async def _in_force(
        self, project_id: uuid.UUID, spec: dict[str, Any], am: User, finance: User
    ) -> None:
        today = today_in_china()
        disbursed_on = add_months(today, -int(spec["months_ago"]))
        async with self.acting(am):
            project = await Project.get(id=project_id)
            values = loan.read_disbursement(
                project,
                {
                    "version": project.version,
                    "disbursed_on": disbursed_on.isoformat(),
                    **{k: spec[k] for k in ("amount", "bank_reference", "method", "annual_rate")},
                },
            )
            await loan.disburse(project, values, am, aftercare.rules_of(self.bundle.tenant))
            lines = (await loan.statement(project, today) or {}).get("schedule", [])
        due = [x for x in lines if dt.date.fromisoformat(x["due_on"]) <= today]
        # A borrower who stopped paying (the default story) repaid only its first lines.
        for line in due[: spec.get("repaid_instalments", len(due))]:
            async with self.acting(finance):
                project = await Project.get(id=project_id)
                await loan.repay(
                    project,
                    loan.read_repayment(
                        {
                            "paid_on": line["due_on"],
                            "principal": line["principal"],
                            "interest": line["interest"],
                            "reference": f"还款 第{line['seq']}期",
                        }
                    ),
                    finance,
                )
        async with self.acting(am):
            project = await Project.get(id=project_id)
            first = next((t for t in await aftercare.tasks_of(project) if t.due_on <= today), None)
            if first is not None:
                await aftercare.complete(project, first.id, spec["visit_note"], am)

    async def _default(
        self,
        project_id: uuid.UUID,
        record_id: uuid.UUID,
        form: FormDefinition,
        spec: dict[str, Any],
        risk: User,
        finance: User,
    ) -> None:
        """The borrower stopped paying: the bank's notice (the whole outstanding principal
        called in, the guarantor's share), compensation carried by a second run of the
        approval chain, then recovery actions that bring back part of it."""
        plan = spec["default"]
        legal = await self.user(plan["legal"])
        today = today_in_china()
        async with self.acting(risk):
            project = await Project.get(id=project_id)
            late, _ = await loan.overdue(project, today)  # days since the oldest unpaid line
            since = today - dt.timedelta(days=late)
            days = max(1, min(int(plan["days_overdue"]), late))
            notice = default.OverdueNotice(
                plan["notice_ref"],
                since + dt.timedelta(days=days),
                days,
                await loan.liability(project),
                Decimal(plan["interest"]),
            )
            await default.register_overdue(
                project.id, notice, expected_version=project.version, user=risk
            )
        approval = await self.approval(record_id, form, spec, f"compensation-{record_id}")
        paid_on = min(today, notice.notice_date + dt.timedelta(days=int(plan["paid_after_days"])))
        async with self.acting(finance):
            project = await Project.get(id=project_id)
            payment = default.Payment(notice.obliged, paid_on, plan["bank_receipt_ref"])
            await default.compensate(
                project.id,
                payment,
                approval_id=approval,
                expected_version=project.version,
                user=finance,
                reason="银行逾期通知已核实，经审批代偿",
            )
        async with self.acting(legal):
            project = await Project.get(id=project_id)
            await apply_event(project.id, "start_recovery", expected_version=None, user=legal)
            on = paid_on
            for step in plan["recoveries"]:
                on = min(today, on + dt.timedelta(days=int(step["after_days"])))
                action = recovery.Action(step["kind"], on, step.get("reference"), step["note"])
                started = await recovery.start_action(project.id, action, user=legal)
                assert started is not None
                for got in step.get("receipts", []):
                    on = min(today, on + dt.timedelta(days=int(got["after_days"])))
                    receipt = recovery.Receipt(Decimal(got["amount"]), on, got.get("reference"))
                    await recovery.record_receipt(project.id, started[1].id, receipt, user=legal)

    async def approval(
        self, record_id: uuid.UUID, form: FormDefinition, spec: dict[str, Any], key: str
    ) -> uuid.UUID:
        """A run of the guarantor's approval chain on the record, to its end; its id."""
        am = await self.user(spec["account_manager"])
        async with self.acting(am):
            record = await self._opened(record_id, form)
            instance = await start_instance(
                bundle=self.bundle,
                version=self.version,
                workflow_id=spec["workflow"],
                record_id=record_id,
                submitter_id=am.id,
                data=record.data,
                sensitive=form.sensitive_fields,
                idempotency_key=f"demo-{key}",
            )
        approval = uuid.UUID(instance.instance_id)
        await self._approve(approval, record_id, form)
        return approval


async def seed_projects(
    tenant: Tenant,
    bundle: Bundle,
    version: int,
    specs: list[dict[str, Any]],
    *,
    keys: TenantKeys,
    store: ObjectStore,
    verify_base: str,
) -> list[str]:
    """Play each demo project of a guarantor that has none yet; their numbers."""
    context = TenantContext(TenantId(tenant.id), tenant.slug, Principal.system("demo"))
    with tenant_scope(context):
        async with in_transaction():
            if await Project.exists():
                return []
    story = Story(tenant, bundle, version, keys=keys, store=store, verify_base=verify_base)
    return [await story.play(spec) for spec in specs]
