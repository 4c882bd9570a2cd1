"""Projects on real PostgreSQL: created from a submitted record through the tenant's
mapping, moved by the transition table under a row lock, one audit event per change."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.config import REPO_ROOT
from danbao.crypto.fields import blind_index, decrypt_value, envelope_version
from danbao.crypto.tenant_keys import DATA, INDEX, TenantKeys
from danbao.db.models import AuditEvent, Project, Record
from danbao.definitions import load_bundle
from danbao.guarantee import service
from danbao.guarantee.approval_check import ApprovalNotValid
from danbao.guarantee.attributes import AttributesInvalid, mapping_for, read_attributes
from danbao.guarantee.transitions import NotAllowed
from danbao.records.definition import FormDefinition
from danbao.records.sensitive import open_record
from danbao.tenancy.context import tenant_scope

from .conftest import TEMPLATE, ClientFactory, TenantFixture, sign_in
from .projects_helpers import finished_approval, submitted_record, user_by_email
from .records_helpers import VALID, new_user, records_url

BUNDLE = load_bundle(TEMPLATE)
FORM = FormDefinition.from_bundle(BUNDLE, "application")
MAPPING = mapping_for(BUNDLE.tenant, "application")


def keys_of(app: Starlette) -> TenantKeys:
    keys: TenantKeys = app.state.services.keys
    return keys


async def make_project(
    app: Starlette, tenant: TenantFixture, email: str, record_id: str
) -> Project:
    with tenant_scope(tenant.context):
        async with in_transaction():
            record = await Record.get(id=record_id)
            await open_record(keys_of(app), record)
            user = await user_by_email(email)
            return await service.create_from_record(
                BUNDLE.tenant, FORM, record, user=user, keys=keys_of(app)
            )


async def events_of(tenant: TenantFixture, project_id: uuid.UUID) -> list[AuditEvent]:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await AuditEvent.filter(
                object_type="project", object_id=str(project_id)
            ).order_by("seq")


async def apply(
    tenant: TenantFixture, email: str, project_id: uuid.UUID, event: str, **kw: Any
) -> Any:
    with tenant_scope(tenant.context):
        async with in_transaction():
            user = await user_by_email(email)
            return await service.apply_event(project_id, event, user=user, **kw)


async def stored(tenant: TenantFixture, project_id: uuid.UUID) -> Project:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await Project.get(id=project_id)


def test_attributes_are_read_through_the_mapping() -> None:
    assert MAPPING is not None
    attributes = read_attributes(
        MAPPING, {**VALID, "amount": 1234567.5, "enterprise_size": "medium"}
    )
    assert attributes.amount == Decimal("1234567.50")
    assert (attributes.business_type, attributes.client_type) == ("loan", "other")
    assert attributes.borrower_id == VALID["uscc"] and attributes.term_months == 12
    assert VALID["uscc"] not in repr(attributes) and "borrower" not in str(attributes.public())


def test_bad_record_data_is_refused_with_every_pointer() -> None:
    assert MAPPING is not None
    data = {**VALID, "amount": 100.125, "term_months": 0}
    del data["uscc"]
    with pytest.raises(AttributesInvalid) as refused:
        read_attributes(MAPPING, data)
    assert {e.pointer for e in refused.value.errors} == {"/amount", "/term_months", "/uscc"}
    messages = " ".join(e.message for e in refused.value.errors)
    assert "more than two decimals" in messages and "borrower_id is required" in messages
    percent = {"bank_risk_share": {"field": "amount", "percent": True}, **MAPPING}
    with pytest.raises(AttributesInvalid, match="between 0 and 100"):
        read_attributes(percent, {**VALID, "amount": 150})
    wan = {**MAPPING, "amount": {"field": "amount_wan", "unit": "wan"}}
    assert read_attributes(wan, {**VALID, "amount_wan": 12.345}).amount == Decimal("123450.00")
    free = {**MAPPING, "business_type": {"field": "purpose", "values": {"x": "loan"}}}
    with pytest.raises(AttributesInvalid, match="is not a business_type"):
        read_attributes(free, VALID)


async def test_a_project_from_a_submitted_record(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"], "business")
    rid = await submitted_record(make_client, alpha, email, amount=2500000.5)
    project = await make_project(app, alpha, email, rid)
    again = await stored(alpha, project.id)
    assert (again.state, again.version, again.number) == ("DRAFT", 1, project.number)
    assert again.amount == Decimal("2500000.50") and again.client_type == "small"
    assert again.department == "business" and str(again.record_id) == rid
    keys = keys_of(app)
    with tenant_scope(alpha.context):
        async with in_transaction():
            index_key = await keys.current(INDEX)
            data_key = await keys.get(DATA, envelope_version(again.borrower_id_sealed))
    assert again.borrower_id_hash == blind_index(
        index_key.key, "project", "borrower_id", VALID["uscc"], "cn-uscc"
    )
    assert VALID["uscc"] not in again.borrower_id_sealed
    assert (
        decrypt_value(data_key, str(alpha.id), service.BORROWER, again.borrower_id_sealed)
        == VALID["uscc"]
    )
    [created] = await events_of(alpha, project.id)
    assert created.action == "project.created" and created.data["amount"] == "2500000.50"
    assert VALID["uscc"] not in str(created.data)
    with pytest.raises(service.AlreadyExists):
        await make_project(app, alpha, email, rid)


async def test_only_a_submitted_record_becomes_a_project(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", alpha.manager_email)
        draft = await client.post(
            records_url("alpha"),
            json={"data": {"applicant_name": "草稿公司"}},
            headers={"X-CSRF-Token": csrf},
        )
    assert draft.status_code == 201, draft.text
    with pytest.raises(service.NotSubmitted):
        await make_project(app, alpha, alpha.manager_email, draft.json()["id"])


async def test_transitions_lock_check_the_version_and_audit(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email = alpha.manager_email
    project = await make_project(
        app, alpha, email, await submitted_record(make_client, alpha, email)
    )
    preview = await apply(alpha, email, project.id, "accept", expected_version=1, dry_run=True)
    assert preview.applied is False and preview.transition.to_state == "SUBMITTED"
    assert (await stored(alpha, project.id)).state == "DRAFT"
    done = await apply(alpha, email, project.id, "accept", expected_version=1, reason="材料齐全")
    assert done.applied and (done.project.state, done.project.version) == ("SUBMITTED", 2)
    with pytest.raises(service.StaleVersion) as stale:
        await apply(alpha, email, project.id, "start_due_diligence", expected_version=1)
    assert stale.value.project.state == "SUBMITTED" and stale.value.project.version == 2
    with pytest.raises(NotAllowed, match="'approve' is not allowed from state SUBMITTED"):
        await apply(alpha, email, project.id, "approve", expected_version=2)
    for event, version in (("start_due_diligence", 2), ("submit_for_review", 3)):
        await apply(alpha, email, project.id, event, expected_version=version)
    with pytest.raises(service.ApprovalRequired, match="'approve' needs an approval"):
        await apply(alpha, email, project.id, "approve", expected_version=4)
    approval = await finished_approval(alpha, project.record_id)
    approved = await apply(
        alpha, email, project.id, "approve", expected_version=4, approval_id=approval
    )
    assert approved.project.state == "APPROVED"
    events = await events_of(alpha, project.id)
    transitions = [e for e in events if e.action == "project.transition"]
    assert [(e.data["event"], e.data["from"], e.data["to"]) for e in transitions] == [
        ("accept", "DRAFT", "SUBMITTED"),
        ("start_due_diligence", "SUBMITTED", "DUE_DILIGENCE"),
        ("submit_for_review", "DUE_DILIGENCE", "UNDER_REVIEW"),
        ("approve", "UNDER_REVIEW", "APPROVED"),
    ]
    user = None
    with tenant_scope(alpha.context):
        async with in_transaction():
            user = await user_by_email(email)
    assert transitions[0].data["reason"] == "材料齐全"
    assert transitions[0].data["actor"] == str(user.id)
    assert transitions[-1].data["approval_id"] == str(approval)
    final = await stored(alpha, project.id)
    assert (final.state, final.version) == ("APPROVED", 5)


async def test_two_racing_transitions_one_wins(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email = alpha.manager_email
    project = await make_project(
        app, alpha, email, await submitted_record(make_client, alpha, email)
    )

    async def attempt(event: str) -> str:
        try:
            await apply(alpha, email, project.id, event, expected_version=1)
        except (service.StaleVersion, NotAllowed) as exc:
            return type(exc).__name__
        return "ok"

    results = await asyncio.gather(attempt("accept"), attempt("withdraw"))
    assert sorted(results) == ["StaleVersion", "ok"]
    final = await stored(alpha, project.id)
    assert final.version == 2 and final.state in ("SUBMITTED", "WITHDRAWN")
    transitions = [
        e for e in await events_of(alpha, project.id) if e.action == "project.transition"
    ]
    assert len(transitions) == 1 and transitions[0].data["to"] == final.state


async def test_another_tenant_cannot_see_or_move_a_project(
    app: Starlette,
    make_client: ClientFactory,
    tenants: dict[str, TenantFixture],
    pg_owner: asyncpg.Connection,
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    email = alpha.manager_email
    rid = await submitted_record(make_client, alpha, email)
    project = await make_project(app, alpha, email, rid)
    with tenant_scope(beta.context):
        async with in_transaction():
            assert await Project.get_in_tenant(project.id) is None
            user = await user_by_email(beta.manager_email)
            assert (
                await service.apply_event(project.id, "accept", user=user, expected_version=1)
                is None
            )
    # The composite key: a beta project cannot point at alpha's record, even as the owner.
    beta_user = await pg_owner.fetchval(
        "SELECT id FROM app_user WHERE tenant_id = $1 LIMIT 1", beta.id
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pg_owner.execute(
            "INSERT INTO project (id, tenant_id, record_id, form_id, number, state, version,"
            " business_type, client_type, amount, bank_risk_share, borrower_id_hash,"
            " borrower_id_sealed, created_by, created_at, updated_at) VALUES ($1, $2, $3,"
            " 'application', 'X', 'DRAFT', 1, 'loan', 'small', 1, 0, 'h', 's', $4, now(), now())",
            uuid.uuid4(),
            beta.id,
            uuid.UUID(rid),
            beta_user,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await pg_owner.execute("UPDATE project SET state = 'LIMBO' WHERE id = $1", project.id)


def test_the_demo_guarantors_mappings_read_their_forms() -> None:
    gxdb = load_bundle(REPO_ROOT / "tenants" / "gxdb")
    mapping = mapping_for(gxdb.tenant, "application")
    assert mapping is not None
    data = {
        "business_type": "working_capital",
        "enterprise_size": "medium",
        "amount": 3000000,
        "uscc": VALID["uscc"],
        "term_months": 12,
        "fee_rate_pct": 1.5,
        "lending_bank": "icbc",
        "bank_risk_share_pct": 20,
        "industry": "C",
        "branch": "chengdu",
    }
    read = read_attributes(mapping, data)
    assert (read.business_type, read.client_type) == ("loan", "other")
    assert (read.fee_rate, read.bank_risk_share) == (Decimal("0.015"), Decimal("0.2"))
    assert (read.lending_bank, read.region, read.industry) == ("icbc", "chengdu", "C")
    qsnd = load_bundle(REPO_ROOT / "tenants" / "qsnd")
    farm = mapping_for(qsnd.tenant, "agri_loan")
    assert farm is not None
    read = read_attributes(
        farm,
        {"subject_type": "family_farm", "amount": 200000, "id_number": "11010519491231002X"},
    )
    assert (read.business_type, read.client_type, read.industry) == ("loan", "farmer", "agri")
    assert read.bank_risk_share == Decimal("0.20") and read.borrower_id == "11010519491231002X"


async def test_an_approval_carries_one_decision_of_its_own_project(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email = alpha.manager_email
    project = await make_project(
        app, alpha, email, await submitted_record(make_client, alpha, email)
    )
    other = await submitted_record(make_client, alpha, email)
    for event, version in (("accept", 1), ("start_due_diligence", 2), ("submit_for_review", 3)):
        await apply(alpha, email, project.id, event, expected_version=version)

    async def refused(event: str, approval: uuid.UUID) -> ApprovalNotValid:
        with pytest.raises(ApprovalNotValid) as caught:
            await apply(alpha, email, project.id, event, expected_version=4, approval_id=approval)
        assert (await stored(alpha, project.id)).state == "UNDER_REVIEW"
        return caught.value

    assert (await refused("approve", uuid.uuid4())).why == "other_record"
    assert (await refused("approve", await finished_approval(alpha, other))).why == "other_record"
    rejected = await finished_approval(alpha, project.record_id, "rejected")
    wrong = await refused("approve", rejected)
    assert (wrong.why, wrong.params) == ("outcome", {"status": "rejected", "needed": "approved"})
    running = await finished_approval(alpha, project.record_id, "running")
    assert (await refused("reject", running)).why == "outcome"

    approval = await finished_approval(alpha, project.record_id)
    await apply(alpha, email, project.id, "approve", expected_version=4, approval_id=approval)
    await apply(alpha, email, project.id, "reopen_review", expected_version=5)
    # The review is open again: the decision taken before it reopened cannot carry the next.
    with pytest.raises(ApprovalNotValid) as reused:
        await apply(alpha, email, project.id, "approve", expected_version=6, approval_id=approval)
    assert (reused.value.why, reused.value.params) == ("earlier", {"state": "UNDER_REVIEW"})
    fresh = await finished_approval(alpha, project.record_id)
    done = await apply(alpha, email, project.id, "approve", expected_version=6, approval_id=fresh)
    assert done.project.state == "APPROVED"
