"""Runs that move running approvals of one chain from the version they are pinned to
onto a newer published one (``workflow_migration``), with the node mapping used and the
per-approval report.

Written in the shape ``tortoise makemigrations`` gives (table descriptions avoid
apostrophes and semicolons, see 0004). On PostgreSQL the table is walled like every
tenant table (``walls.migration_steps``), with a composite key to its creator. It
follows 0022 in the dependency chain (numbers were handed out before landing order).
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

TENANT_TABLES = ("workflow_migration",)
COMPOSITE_FKS = (("workflow_migration", "created_by", "app_user", "RESTRICT"),)

apply_walls, remove_walls = walls.migration_steps(TENANT_TABLES, composite_fks=COMPOSITE_FKS)


def _json(default: Any) -> Any:
    return fields.JSONField(
        default=default, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
    )


class Migration(migrations.Migration):
    dependencies = [("danbao", "0022_timeline_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="WorkflowMigration",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("workflow_id", fields.CharField(max_length=63)),
                ("from_version", fields.IntField()),
                ("to_version", fields.IntField()),
                ("mapping", _json(dict)),
                ("status", fields.CharField(default="planned", max_length=20)),
                ("report", _json(dict)),
                ("moved", fields.IntField(default=0)),
                ("failed", fields.IntField(default=0)),
                ("error", fields.TextField(default="", unique=False)),
                ("created_by", fields.UUIDField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "workflow_migration",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "workflow_id", "created_at"])],
                "pk_attr": "id",
                "table_description": "One move of the running approvals of a chain onto a newer version.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
