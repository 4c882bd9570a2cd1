"""Loading the demo guarantors and operators listed in ``tenants/demo.json`` (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from danbao.auth.operators import create_operator
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Operator, PluginSetting, Tenant, User
from danbao.definitions import load_bundle
from danbao.demo_projects import seed_projects
from danbao.plugins import catalog
from danbao.plugins.local_pades import seal_settings
from danbao.plugins.pades import new_seal
from danbao.plugins.tenant_config import configure
from danbao.provisioning import (
    ADMIN_ROLE,
    apply_bundle,
    create_tenant,
    create_user,
    operator_context,
)
from danbao.storage import ObjectStore
from danbao.tenancy.context import tenant_scope


def _demo_data(tenants_dir: Path) -> dict[str, Any]:
    return dict(json.loads((tenants_dir / "demo.json").read_text(encoding="utf-8")))


def read_demo_file(tenants_dir: Path) -> list[dict[str, Any]]:
    return list(_demo_data(tenants_dir)["tenants"])


async def load_demo_operators(tenants_dir: Path) -> list[str]:
    """Create each demo operator unless one has that e-mail; returns the e-mails created."""
    created: list[str] = []
    for entry in _demo_data(tenants_dir).get("operators", []):
        if await Operator.filter(email=entry["email"]).exists():
            continue
        await create_operator(entry["email"], entry["name"], entry["password"])
        created.append(entry["email"])
    return created


async def load_demo(
    tenants_dir: Path,
    *,
    operator: str = "demo",
    keys: TenantKeys | None = None,
    store: ObjectStore | None = None,
    site: str = "http://127.0.0.1:8000",
) -> list[str]:
    """Bring the demo operators, guarantors and users up to ``tenants/demo.json``: create
    what is missing and publish changed demo definitions as a new version, so a pulled
    change shows up at the next ``make demo``. With ``keys`` and ``store``, a guarantor
    without projects gets its demo ``projects`` played (``demo_projects``; letters point
    their QR codes at ``site``). Returns one line per guarantor."""
    await load_demo_operators(tenants_dir)
    report: list[str] = []
    for entry in read_demo_file(tenants_dir):
        slug, users, bundle_dir = entry["slug"], entry["users"], tenants_dir / entry["bundle"]
        admin = next(u for u in users if ADMIN_ROLE in u["roles"])
        tenant = await Tenant.filter(slug=slug).first()
        if tenant is None:
            tenant, version = await create_tenant(
                slug,
                bundle_dir,
                admin_email=admin["email"],
                admin_password=admin["password"],
                operator=operator,
            )
            outcome = f"created with definitions v{version}"
        else:
            version, changed = await apply_bundle(slug, bundle_dir, operator=operator)
            outcome = f"definitions v{version}" + (" (updated)" if changed else "")
        with tenant_scope(operator_context(tenant, operator)):
            async with in_transaction():
                added = await _add_missing_users(users, admin)
                enabled = (
                    await _enable_plugins(keys, tenant, entry.get("plugins", {})) if keys else 0
                )
        seeded: list[str] = []
        if keys is not None and store is not None and entry.get("projects"):
            seeded = await seed_projects(
                tenant,
                load_bundle(bundle_dir),
                version,
                entry["projects"],
                keys=keys,
                store=store,
                verify_base=f"{site.rstrip('/')}/t/{slug}/verify/",
            )
        report.append(
            f"{slug}: {outcome}"
            + (f", {added} users added" if added else "")
            + (f", {enabled} plug-ins enabled" if enabled else "")
            + (f", projects {', '.join(seeded)} played" if seeded else "")
        )
    return report


async def _enable_plugins(keys: TenantKeys, tenant: Tenant, wanted: dict[str, Any]) -> int:
    """Enable the demo's plug-ins the tenant has not configured yet (never overwrites).

    ``{"seal": true}`` gives the local e-signature plug-in a fresh seal in the guarantor's
    name, so demo contracts carry real, verifiable signatures.
    """
    configured = set(await PluginSetting.filter().values_list("plugin_id", flat=True))
    enabled = 0
    for plugin_id, spec in wanted.items():
        if plugin_id in configured:
            continue
        settings = dict(spec.get("settings", {}))
        if spec.get("seal"):
            settings = seal_settings(new_seal(tenant.name), tenant.name)
        await configure(
            keys, catalog.get(plugin_id), settings=settings, policy=spec.get("policy", {})
        )
        enabled += 1
    return enabled


async def _add_missing_users(users: list[dict[str, Any]], admin: dict[str, Any]) -> int:
    """Create the demo users the tenant in context lacks; the first admin gets its demo name.
    Each gets its demo WeCom user id unless an administrator already set one."""
    existing = set(await User.filter().values_list("email", flat=True))
    added = 0
    for user in users:
        if user["email"] in existing:
            if user is admin:
                await User.filter(email=admin["email"], name="管理员").update(
                    name=admin["name"], department=admin.get("department")
                )
        else:
            await create_user(
                user["email"], user["name"], user["password"], user["roles"], user.get("department")
            )
            added += 1
        if user.get("wecom_userid"):
            await User.filter(email=user["email"], wecom_userid=None).update(
                wecom_userid=user["wecom_userid"]
            )
    return added
