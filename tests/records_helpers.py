"""Shared by the records tests: users, valid data, a tenant whose form checks ID numbers."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, Record
from danbao.provisioning import create_user
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, TEMPLATE, TenantFixture

RECORDS = "/t/{slug}/api/forms/application/records"
VALID_ID = "11010519491231002X"  # the standard's own example: a correct check digit
BAD_CHECKSUM_ID = "110105194912310021"
VALID = {
    "applicant_name": "福州测试科技有限公司",
    "uscc": "91350100M000100Y43",
    "enterprise_size": "small",
    "industry": "I",
    "legal_rep_name": "张三",
    "legal_rep_id_number": VALID_ID,
    "contact_mobile": "13800138000",
    "amount": 3000000,
    "term_months": 12,
    "lending_bank": "中国银行福州分行",
    "purpose": "补充流动资金",
}


def records_url(slug: str, *parts: str) -> str:
    return "/".join([RECORDS.format(slug=slug), *parts])


async def new_user(
    tenant: TenantFixture, roles: list[str], department: str | None = None
) -> tuple[str, uuid.UUID]:
    email = f"r{uuid.uuid4().hex[:10]}@{tenant.slug}.test"
    with tenant_scope(tenant.context):
        async with in_transaction():
            user = await create_user(email, "测试用户", PASSWORD, roles, department)
    return email, user.id


async def counts(tenant: TenantFixture) -> tuple[int, int]:
    """(records, audit events) of the tenant, read as the system."""
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await Record.all().count(), await AuditEvent.all().count()


def checked_bundle(target: Path) -> Path:
    """The starter template, with the ID number checked by format and one restricted field
    for risk officers (who may update): what a tenant administrator would publish."""
    shutil.copytree(TEMPLATE, target)
    form_path = target / "forms" / "application.json"
    form = json.loads(form_path.read_text(encoding="utf-8"))
    form["schema"]["properties"]["legal_rep_id_number"]["format"] = "cn-resident-id"
    form_path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    perms_path = target / "permissions.json"
    perms = json.loads(perms_path.read_text(encoding="utf-8"))
    perms["field_rules"]["risk_officer"] = {"application": {"legal_rep_id_number": "masked"}}
    perms_path.write_text(json.dumps(perms, ensure_ascii=False), encoding="utf-8")
    return target
