"""Shared by the attachment tests: a tenant whose application form has attachment fields,
its users, sample files, and an upload call."""

from __future__ import annotations

import io
import json
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import Attachment, StoredFile
from danbao.provisioning import create_tenant
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, TEMPLATE, TenantFixture
from .records_helpers import new_user

LICENCE = "licence_scan"  # pdf, jpg, png; 10 KiB; one file
STATEMENTS = "statements"  # pdf, xlsx, csv; 50 KiB; three files
LICENCE_MAX = int(0.01 * 1024 * 1024)

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120
HTML = b"<html><body><script>alert(1)</script></body></html>"
CSV_GB18030 = "企业名称,营业收入\n广信测试有限公司,1000000\n".encode("gb18030")


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


def attachment_bundle(target: Path) -> Path:
    """The starter template with two attachment fields, one hidden from committee members
    and one masked for legal counsel."""
    shutil.copytree(TEMPLATE, target)
    form_path = target / "forms" / "application.json"
    form = json.loads(form_path.read_text(encoding="utf-8"))
    form["schema"]["properties"][LICENCE] = {
        "type": "array",
        "title": "营业执照扫描件",
        "x-attachment": {"accept": ["pdf", "jpg", "png"], "max_size_mb": 0.01, "max_count": 1},
    }
    form["schema"]["properties"][STATEMENTS] = {
        "type": "array",
        "title": "财务报表",
        "x-attachment": {"accept": ["pdf", "xlsx", "csv"], "max_size_mb": 0.05, "max_count": 3},
    }
    form["ui"]["layout"].append(
        {
            "id": "files",
            "title": {"zh-CN": "附件", "en": "Attachments"},
            "fields": [LICENCE, STATEMENTS],
        }
    )
    form_path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    perms_path = target / "permissions.json"
    perms = json.loads(perms_path.read_text(encoding="utf-8"))
    perms["field_rules"]["committee_member"]["application"][LICENCE] = "hidden"
    perms["field_rules"]["legal"]["application"][STATEMENTS] = "masked"
    perms_path.write_text(json.dumps(perms, ensure_ascii=False), encoding="utf-8")
    return target


@dataclass(frozen=True)
class AttachTenant:
    tenant: TenantFixture
    manager: str  # account manager, own scope
    manager2: str  # another account manager
    risk: str  # risk officer: every record
    committee: str  # the licence field hidden
    legal: str  # the statements field masked


async def make_attach_tenant(bundle_dir: Path) -> AttachTenant:
    slug = f"att{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug,
        attachment_bundle(bundle_dir),
        admin_email=f"admin@{slug}.test",
        admin_password=PASSWORD,
        operator="tests",
    )
    fixture = TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")
    emails = [
        (await new_user(fixture, [role], department))[0]
        for role, department in (
            ("account_manager", "business"),
            ("account_manager", "business"),
            ("risk_officer", "risk"),
            ("committee_member", "office"),
            ("legal", "legal"),
        )
    ]
    return AttachTenant(fixture, *emails)


def upload_url(slug: str, field: str) -> str:
    return f"/t/{slug}/api/forms/application/attachments/{field}"


def file_url(slug: str, attachment_id: str) -> str:
    return f"/t/{slug}/api/attachments/{attachment_id}"


async def upload(
    client: httpx.AsyncClient,
    csrf: str,
    slug: str,
    field: str,
    *files: tuple[str, bytes],
) -> httpx.Response:
    return await client.post(
        upload_url(slug, field),
        files=[("file", (name, data, "application/octet-stream")) for name, data in files],
        headers={"X-CSRF-Token": csrf},
    )


async def stored_counts(tenant: TenantFixture) -> tuple[int, int]:
    """(attachment rows, stored files) of the tenant, read as the system."""
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await Attachment.all().count(), await StoredFile.all().count()
