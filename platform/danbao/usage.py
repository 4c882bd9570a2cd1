"""What a tenant uses, counted under its own context: operators see numbers, not records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, DefinitionVersion, StoredFile, Tenant, User
from danbao.provisioning import operator_context
from danbao.tenancy.context import tenant_scope

AUDIT_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class TenantUsage:
    version: int | None
    users: int
    audit_events_30d: int
    files: int
    file_bytes: int


async def tenant_usage(tenant: Tenant, *, operator: str) -> TenantUsage:
    """Counts for one tenant. Call it outside any transaction: a savepoint would inherit the
    enclosing transaction's row-level-security setting instead of this tenant's."""
    since = datetime.now(UTC) - AUDIT_WINDOW
    with tenant_scope(operator_context(tenant, operator)):
        async with in_transaction():
            head = await DefinitionVersion.filter().order_by("-number").first().values("number")
            users = await User.filter().count()
            events = await AuditEvent.filter(at__gte=since).count()
            files = await StoredFile.annotate(n=Count("id"), total=Sum("size")).values("n", "total")
    totals = files[0] if files else {}
    return TenantUsage(
        version=head["number"] if head else None,
        users=users,
        audit_events_30d=events,
        files=int(totals.get("n") or 0),
        file_bytes=int(totals.get("total") or 0),
    )
