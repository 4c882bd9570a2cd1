"""``danbao tenant export``: one tenant's definitions, users, audit trail and files as a
tar.gz, for handing a guarantor its data or moving it. Secrets (password hashes, session
and API token hashes) stay behind."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.db.models import AuditEvent, DefinitionVersion, Tenant, User
from danbao.storage import ObjectStore
from danbao.tenancy.context import Principal, TenantContext, TenantId, tenant_scope

_BATCH = 1000
_USER_FIELDS = ("id", "email", "name", "roles", "department", "is_active", "created_at")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


async def _jsonl(query: Any, fields: tuple[str, ...] | None = None) -> bytes:
    out = io.BytesIO()
    offset = 0
    while True:
        rows = await query.offset(offset).limit(_BATCH)
        for row in rows:
            values = (
                {f: getattr(row, f) for f in fields}
                if fields
                else {f: getattr(row, f) for f in row._meta.db_fields}
            )
            out.write(json.dumps(values, ensure_ascii=False, default=str).encode() + b"\n")
        if len(rows) < _BATCH:
            return out.getvalue()
        offset += _BATCH


async def export_tenant(tenant: Tenant, out: Path, store: ObjectStore, *, operator: str) -> int:
    """Write the archive to ``out``; returns the number of files stored for the tenant."""
    ctx = TenantContext(TenantId(tenant.id), tenant.slug, Principal.operator(operator))
    with tenant_scope(ctx):
        async with in_transaction():
            versions = await DefinitionVersion.filter().order_by("number")
            users = await _jsonl(User.filter().order_by("id"), _USER_FIELDS)
            audit = await _jsonl(AuditEvent.filter().order_by("seq"))
            keys = await store.list()
            with tarfile.open(out, "w:gz") as tar:
                manifest = {
                    "format": "danbao-tenant-export/1",
                    "exported_at": datetime.now(UTC).isoformat(),
                    "tenant": {
                        "id": str(tenant.id),
                        "slug": tenant.slug,
                        "name": tenant.name,
                        "status": tenant.status,
                    },
                    "definition_versions": [v.number for v in versions],
                    "files": len(keys),
                }
                _add(tar, "manifest.json", _json_bytes(manifest))
                for version in versions:
                    _add(tar, f"definitions/v{version.number}.json", _json_bytes(version.bundle))
                _add(tar, "users.jsonl", users)
                _add(tar, "audit.jsonl", audit)
                async for key, data in store.iter_objects():
                    _add(tar, f"files/{key}", data)
            await record_event("tenant.exported", "tenant", str(tenant.id), {"files": len(keys)})
    return len(keys)
