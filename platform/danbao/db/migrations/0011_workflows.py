"""Approval chains: running instances, their live tasks, and the log of actions.

The operations follow ``tortoise makemigrations`` output (table descriptions avoid
apostrophes and semicolons, see 0004). On PostgreSQL each table is walled by
``walls.table_sql`` like every tenant table, with composite keys to the instance, the
record and the task's assignee, so no row can point into another tenant. The action
log is append-only for the serving role: history is never rewritten.
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

TENANT_TABLES = ("workflow_instance", "workflow_task", "workflow_action")
APPEND_ONLY = ("workflow_action",)
COMPOSITE_FKS = (
    ("workflow_instance", "record_id", "form_record", "RESTRICT"),
    ("workflow_instance", "submitter_id", "app_user", "RESTRICT"),
    ("workflow_task", "instance_id", "workflow_instance", "CASCADE"),
    ("workflow_task", "user_id", "app_user", "RESTRICT"),
    ("workflow_action", "instance_id", "workflow_instance", "RESTRICT"),
)


apply_walls, remove_walls = walls.migration_steps(
    TENANT_TABLES, append_only=APPEND_ONLY, composite_fks=COMPOSITE_FKS
)


def _json() -> Any:
    return functools.partial(dumps, separators=(",", ":"))


class Migration(migrations.Migration):
    dependencies = [("danbao", "0010_attachments")]

    initial = False

    operations = [
        ops.CreateModel(
            name="WorkflowInstance",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("workflow_id", fields.CharField(max_length=63)),
                ("definition_version", fields.IntField()),
                ("plan_hash", fields.CharField(max_length=80)),
                ("record_id", fields.UUIDField()),
                ("submitter_id", fields.UUIDField()),
                ("status", fields.CharField(max_length=16)),
                ("state", fields.JSONField(default=dict, encoder=_json(), decoder=loads)),
                ("revision", fields.IntField(default=1)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "workflow_instance",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "record_id"])],
                "pk_attr": "id",
                "table_description": "One approval of a record, pinned to the compiled plan of its chain.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="WorkflowTask",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("instance_id", fields.UUIDField()),
                ("task_key", fields.CharField(max_length=16)),
                ("node_id", fields.CharField(max_length=63)),
                ("user_id", fields.UUIDField()),
                ("kind", fields.CharField(max_length=16)),
                ("status", fields.CharField(max_length=16)),
                ("version", fields.IntField(default=1)),
                ("why", fields.CharField(default="", max_length=200)),
                ("due_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "workflow_task",
                "app": "danbao",
                "unique_together": (("tenant_id", "instance_id", "task_key"),),
                "indexes": [Index(fields=["tenant_id", "user_id"])],
                "pk_attr": "id",
                "table_description": "One live task of an approval, the row goes when the task is done.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="WorkflowAction",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("instance_id", fields.UUIDField()),
                ("actor_id", fields.UUIDField()),
                ("idempotency_key", fields.CharField(max_length=100)),
                ("request_hash", fields.CharField(max_length=64)),
                ("op", fields.CharField(max_length=32)),
                ("task_key", fields.CharField(null=True, max_length=16)),
                ("revision", fields.IntField()),
                ("result", fields.JSONField(default=dict, encoder=_json(), decoder=loads)),
                ("facts", fields.JSONField(default=list, encoder=_json(), decoder=loads)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "workflow_action",
                "app": "danbao",
                "unique_together": (("tenant_id", "actor_id", "idempotency_key"),),
                "indexes": [Index(fields=["tenant_id", "instance_id", "revision"])],
                "pk_attr": "id",
                "table_description": "One action taken on an approval, under the idempotency key its caller gave.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
