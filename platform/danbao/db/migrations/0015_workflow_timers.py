"""The due-time table of approvals (``workflow_timer``): reminders, deadlines and the
steps of escalation ladders, which the timer sweep fires.

The operation follows ``tortoise makemigrations`` output (the table description avoids
apostrophes and semicolons, see 0004). On PostgreSQL the table is walled by
``walls.table_sql`` with a composite key to its approval, so no timer points into another
tenant; a check keeps kind and status to their codes.
"""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = ("workflow_timer",)
COMPOSITE_FKS = (("workflow_timer", "instance_id", "workflow_instance", "RESTRICT"),)
_CHECKS = """
ALTER TABLE workflow_timer ADD CONSTRAINT workflow_timer_codes_ck
  CHECK (kind IN ('remind', 'timeout', 'escalate')
         AND status IN ('pending', 'fired', 'cancelled') AND step >= 0);
"""

apply_walls, remove_walls = walls.migration_steps(
    TENANT_TABLES, composite_fks=COMPOSITE_FKS, then=_CHECKS
)


class Migration(migrations.Migration):
    dependencies = [("danbao", "0014_workflow_operations")]

    initial = False

    operations = [
        ops.CreateModel(
            name="WorkflowTimer",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("instance_id", fields.UUIDField()),
                ("task_key", fields.CharField(max_length=16)),
                ("node_id", fields.CharField(max_length=63)),
                ("kind", fields.CharField(max_length=16)),
                ("step", fields.IntField(default=0)),
                ("fire_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("status", fields.CharField(default="pending", max_length=16)),
                ("outcome", fields.CharField(default="", max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("done_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "workflow_timer",
                "app": "danbao",
                "unique_together": (("tenant_id", "instance_id", "task_key", "kind", "step"),),
                "indexes": [Index(fields=["tenant_id", "status", "fire_at"])],
                "pk_attr": "id",
                "table_description": "A due time of an approval task: reminder, deadline or escalation step.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
