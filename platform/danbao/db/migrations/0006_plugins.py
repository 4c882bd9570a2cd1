"""Plug-ins: each tenant's enabled plug-ins with their settings, and their results.

Written like ``tortoise makemigrations`` output and reviewed (table descriptions avoid
apostrophes and semicolons, see 0004). On PostgreSQL both tables are walled exactly like
0004 walls its tables. Results are append-only for the serving role.
"""

from __future__ import annotations

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = ("plugin_setting", "plugin_result")


# Answers are kept as given: SELECT and INSERT only for the serving role.
apply_walls, remove_walls = walls.migration_steps(TENANT_TABLES, append_only=("plugin_result",))


def _json() -> fields.JSONField:
    return fields.JSONField(
        default=dict, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
    )


def _id() -> fields.UUIDField:
    return fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True)


class Migration(migrations.Migration):
    dependencies = [("danbao", "0005_tenant_keys")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PluginSetting",
            fields=[
                ("id", _id()),
                ("tenant_id", fields.UUIDField()),
                ("plugin_id", fields.CharField(max_length=100)),
                ("enabled", fields.BooleanField(default=True)),
                ("settings", _json()),
                ("policy", _json()),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ("updated_by", fields.CharField(max_length=200)),
            ],
            options={
                "table": "plugin_setting",
                "app": "danbao",
                "unique_together": (("tenant_id", "plugin_id"),),
                "pk_attr": "id",
                "table_description": "One plug-in as a tenant enabled and configured it.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="PluginResult",
            fields=[
                ("id", _id()),
                ("tenant_id", fields.UUIDField()),
                ("plugin_id", fields.CharField(max_length=100)),
                ("operation", fields.CharField(max_length=50)),
                ("request_hash", fields.CharField(max_length=64)),
                ("record_id", fields.CharField(max_length=64, null=True)),
                ("purpose", fields.CharField(max_length=100)),
                ("result", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("created_by", fields.CharField(max_length=200)),
            ],
            options={
                "table": "plugin_result",
                "app": "danbao",
                "indexes": (("tenant_id", "plugin_id", "operation", "request_hash", "created_at"),),
                "pk_attr": "id",
                "table_description": "A normalised plug-in answer, encrypted, kept with the record it was asked for.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
