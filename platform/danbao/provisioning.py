"""Operator actions on tenants: create, apply definitions, suspend, resume.

Operators manage tenants; they do not read tenants' business records. Each action runs
in one transaction under the tenant's context with an operator principal, and leaves an
audit event in that tenant's chain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tortoise.transactions import in_transaction

from danbao.audit import GENESIS_HASH, record_event
from danbao.auth.login import normalise_email
from danbao.auth.passwords import hash_password
from danbao.db.models import AuditHead, DefinitionVersion, Tenant, User
from danbao.definitions import Bundle, load_bundle
from danbao.definitions.versions import publish
from danbao.ids import new_id
from danbao.tenancy.context import Principal, TenantContext, TenantId, tenant_scope
from danbao.tenancy.registry import check_slug

ADMIN_ROLE = "admin"


class ProvisioningError(Exception):
    pass


class TenantNotFound(ProvisioningError):
    pass


class TenantExists(ProvisioningError):
    pass


def operator_context(tenant: Tenant, operator: str) -> TenantContext:
    return TenantContext(TenantId(tenant.id), tenant.slug, Principal.operator(operator))


# The scope is entered before the transaction begins: on PostgreSQL the transaction's
# first statement hands the tenant in context to row-level security.


def _display_name(bundle: Bundle) -> str:
    return str(bundle.tenant["name"]["zh-CN"])


async def get_tenant(slug: str) -> Tenant:
    tenant = await Tenant.filter(slug=slug).first()
    if tenant is None:
        raise TenantNotFound(f"no tenant with slug {slug!r}")
    return tenant


async def create_user(
    email: str, name: str, password: str, roles: list[str], department: str | None = None
) -> User:
    """Create a user of the tenant in context (roles are checked by the caller's bundle)."""
    user = await User.create(
        email=normalise_email(email),
        name=name,
        password_hash=hash_password(password),
        roles=roles,
        department=department,
    )
    await record_event("user.created", "user", str(user.id), {"email": user.email, "roles": roles})
    return user


async def create_tenant(
    slug: str,
    bundle_dir: Path,
    *,
    admin_email: str,
    admin_password: str,
    operator: str,
    name: str | None = None,
) -> tuple[Tenant, int]:
    """Provision a tenant from a bundle; returns the tenant and its first version number."""
    check_slug(slug)
    bundle = load_bundle(bundle_dir)  # raises BundleInvalid before anything is written
    if ADMIN_ROLE not in bundle.role_ids:
        raise ProvisioningError(f"{bundle_dir}/permissions.json: no {ADMIN_ROLE!r} role")
    if await Tenant.filter(slug=slug).exists():
        raise TenantExists(f"tenant {slug!r} already exists")
    tenant = Tenant(id=new_id(), slug=slug, name=name or _display_name(bundle))
    with tenant_scope(operator_context(tenant, operator)):
        async with in_transaction():
            await tenant.save()
            await AuditHead.create(last_seq=0, last_hash=GENESIS_HASH)
            await record_event("tenant.created", "tenant", str(tenant.id), {"slug": slug})
            version, _ = await publish(bundle, note="initial definitions")
            await create_user(admin_email, "管理员", admin_password, [ADMIN_ROLE])
    return tenant, version.number


async def apply_bundle(slug: str, bundle_dir: Path, *, operator: str) -> tuple[int, bool]:
    """Publish the bundle in ``bundle_dir`` as the tenant's next version (idempotent)."""
    tenant = await get_tenant(slug)
    bundle = load_bundle(bundle_dir)
    with tenant_scope(operator_context(tenant, operator)):
        async with in_transaction():
            version, created = await publish(bundle, note=f"applied from {bundle_dir.name}")
    return version.number, created


async def set_status(slug: str, *, suspend: bool, operator: str, reason: str = "") -> Tenant:
    tenant = await get_tenant(slug)
    with tenant_scope(operator_context(tenant, operator)):
        async with in_transaction():
            await Tenant.filter(id=tenant.id).update(
                status="suspended" if suspend else "active",
                suspended_at=datetime.now(UTC) if suspend else None,
                suspended_reason=(reason or None) if suspend else None,
            )
            action = "tenant.suspended" if suspend else "tenant.resumed"
            await record_event(action, "tenant", str(tenant.id), {"reason": reason})
    return await get_tenant(slug)


async def latest_version_number(tenant: Tenant) -> int | None:
    with tenant_scope(operator_context(tenant, "list")):
        async with in_transaction():
            head = await DefinitionVersion.filter().order_by("-number").first().values("number")
    return head["number"] if head else None
