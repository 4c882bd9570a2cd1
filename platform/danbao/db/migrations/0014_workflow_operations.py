"""The runtime operations of approvals: standing proxies (代理), the internal notification
list, and when each task was last urged (催办).

The operations follow ``tortoise makemigrations`` output (table descriptions avoid
apostrophes and semicolons, see 0004). On PostgreSQL both new tables are walled by
``walls.table_sql`` with composite keys to their users and approval, so no row can point
into another tenant.
"""

from __future__ import annotations

import functools
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = ("workflow_proxy", "notification")
COMPOSITE_FKS = (
    ("workflow_proxy", "user_id", "app_user", "RESTRICT"),
    ("workflow_proxy", "proxy_id", "app_user", "RESTRICT"),
    ("notification", "user_id", "app_user", "RESTRICT"),
    ("notification", "instance_id", "workflow_instance", "RESTRICT"),
)


async def apply_walls(apps: Any, schema_editor: Any) -> None:
    if not walls.is_postgres(schema_editor):
        return  # SQLite (embedded mode) has no roles or RLS; the application wall stands alone.
    role = walls.app_role()
    script = [walls.table_sql(table, role) for table in TENANT_TABLES]
    script += [walls.composite_fk_sql(*fk) for fk in COMPOSITE_FKS]
    await schema_editor.client.execute_script("\n".join(script))


async def remove_walls(apps: Any, schema_editor: Any) -> None:
    if not walls.is_postgres(schema_editor):
        return  # the tables go with the reversed CreateModel steps
    script = [walls.drop_composite_fk_sql(t, c) for t, c, _, _ in COMPOSITE_FKS]
    script += walls.unwall_sql(TENANT_TABLES, walls.app_role())
    await schema_editor.client.execute_script("\n".join(script))


def _json() -> Any:
    return functools.partial(dumps, separators=(",", ":"))


class Migration(migrations.Migration):
    dependencies = [("danbao", "0013_project_documents")]

    initial = False

    operations = [
        ops.AddField(
            model_name="WorkflowTask",
            name="urged_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.CreateModel(
            name="WorkflowProxy",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("user_id", fields.UUIDField()),
                ("proxy_id", fields.UUIDField()),
                ("starts_on", fields.DateField()),
                ("ends_on", fields.DateField()),
                ("created_by", fields.UUIDField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "revoked_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "workflow_proxy",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "user_id"])],
                "pk_attr": "id",
                "table_description": "A standing proxy: for a date range new approval tasks of a user go to another.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("user_id", fields.UUIDField()),
                ("kind", fields.CharField(max_length=32)),
                ("title", fields.CharField(max_length=200)),
                ("body", fields.TextField(default="")),
                ("params", fields.JSONField(default=dict, encoder=_json(), decoder=loads)),
                ("instance_id", fields.UUIDField(null=True)),
                ("read_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("delivery", fields.CharField(default="none", max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "notification",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "user_id", "created_at"])],
                "pk_attr": "id",
                "table_description": "One message to one user, read or unread, and whether a channel sent it.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
