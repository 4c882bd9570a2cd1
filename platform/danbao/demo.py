"""Loading the demo guarantors and operators listed in ``tenants/demo.json`` (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from danbao.auth.operators import create_operator
from danbao.db.models import Operator, Tenant, User
from danbao.provisioning import ADMIN_ROLE, create_tenant, create_user, operator_context
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


async def load_demo(tenants_dir: Path, *, operator: str = "demo") -> list[str]:
    """Create the demo operators, then each demo tenant and its users unless it exists;
    returns the slugs created."""
    await load_demo_operators(tenants_dir)
    created: list[str] = []
    for entry in read_demo_file(tenants_dir):
        slug = entry["slug"]
        if await Tenant.filter(slug=slug).exists():
            continue
        users = entry["users"]
        admin = next(u for u in users if ADMIN_ROLE in u["roles"])
        tenant, _ = await create_tenant(
            slug,
            tenants_dir / entry["bundle"],
            admin_email=admin["email"],
            admin_password=admin["password"],
            operator=operator,
        )
        with tenant_scope(operator_context(tenant, operator)):
            async with in_transaction():
                await User.filter(email=admin["email"]).update(
                    name=admin["name"], roles=admin["roles"], department=admin.get("department")
                )
                for user in users:
                    if user is not admin:
                        await create_user(
                            user["email"],
                            user["name"],
                            user["password"],
                            user["roles"],
                            user.get("department"),
                        )
        created.append(slug)
    return created
