"""Runs that move records to a newer form version, and the snapshots that undo them.

Written in the shape ``tortoise makemigrations`` gives (table descriptions avoid
apostrophes and semicolons, see 0004). On PostgreSQL both tables are walled like every
tenant table (``walls.table_sql``); a snapshot refers to its run and to its record by
composite keys, so neither can point into another tenant. Snapshots are append-only for
the serving role: a rollback reads them, nothing rewrites them.
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

TENANT_TABLES = ("record_migration", "record_snapshot")
COMPOSITE_FKS = (
    ("record_migration", "created_by", "app_user", "RESTRICT"),
    ("record_snapshot", "migration_id", "record_migration", "CASCADE"),
    ("record_snapshot", "record_id", "form_record", "CASCADE"),
)


def _json() -> Any:
    return fields.JSONField(
        default=dict, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
    )


# A snapshot is written once and never changed: SELECT and INSERT only for the serving role.
apply_walls, remove_walls = walls.migration_steps(
    TENANT_TABLES, append_only=("record_snapshot",), composite_fks=COMPOSITE_FKS
)


class Migration(migrations.Migration):
    dependencies = [("danbao", "0006_plugins")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RecordMigration",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("form_id", fields.CharField(max_length=63)),
                ("from_version", fields.IntField()),
                ("to_version", fields.IntField()),
                (
                    "operations",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("status", fields.CharField(default="planned", max_length=20)),
                ("report", _json()),
                ("affected", fields.IntField(default=0)),
                ("failed", fields.IntField(default=0)),
                ("error", fields.TextField(default="", unique=False)),
                ("created_by", fields.UUIDField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "rolled_back_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("rolled_back_by", fields.UUIDField(null=True)),
            ],
            options={
                "table": "record_migration",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "form_id", "created_at"])],
                "pk_attr": "id",
                "table_description": "One move of a form records from one definition version to a later one.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="RecordSnapshot",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("migration_id", fields.UUIDField()),
                ("record_id", fields.UUIDField()),
                ("form_version", fields.IntField()),
                ("status", fields.CharField(max_length=16)),
                ("revision", fields.IntField()),
                ("new_revision", fields.IntField()),
                ("data", _json()),
                ("search_index", _json()),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "record_snapshot",
                "app": "danbao",
                "unique_together": (("tenant_id", "migration_id", "record_id"),),
                "pk_attr": "id",
                "table_description": "A record as it was before a migration changed it, kept for the rollback.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
