"""Verified vendor callbacks, one row per event (replays are refused by the unique key).

Written like ``tortoise makemigrations`` output (see 0006); walled like every tenant
table and append-only for the serving role.
"""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = ("plugin_callback",)


apply_walls, remove_walls = walls.migration_steps(TENANT_TABLES, append_only=TENANT_TABLES)


def _id() -> fields.UUIDField:
    return fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True)


class Migration(migrations.Migration):
    dependencies = [("danbao", "0007_record_migrations")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PluginCallback",
            fields=[
                ("id", _id()),
                ("tenant_id", fields.UUIDField()),
                ("plugin_id", fields.CharField(max_length=100)),
                ("event_id", fields.CharField(max_length=64)),
                ("flow_id", fields.CharField(max_length=100)),
                ("action", fields.CharField(max_length=100)),
                ("status", fields.CharField(max_length=16)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "plugin_callback",
                "app": "danbao",
                "unique_together": (("tenant_id", "plugin_id", "event_id"),),
                "indexes": (("tenant_id", "flow_id", "received_at"),),
                "pk_attr": "id",
                "table_description": "A vendor notification that passed its signature check, kept once per event.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
