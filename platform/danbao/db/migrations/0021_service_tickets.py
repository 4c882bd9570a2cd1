"""Service tickets (服务工单) on projects: ``service_ticket`` and ``ticket_reply``, walled.

Written after ``tortoise makemigrations`` output. On PostgreSQL both tables get
``walls.table_sql``; composite keys tie a ticket to its project and assignee and a reply
to its ticket, so no row can point into another tenant. Openers and authors are staff
users or portal applicants, so those columns carry no key.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = ("service_ticket", "ticket_reply")
COMPOSITE_FKS = (
    ("service_ticket", "project_id", "project", "RESTRICT"),
    ("service_ticket", "assignee_id", "app_user", "RESTRICT"),
    ("ticket_reply", "ticket_id", "service_ticket", "RESTRICT"),
)

apply_walls, remove_walls = walls.migration_steps(TENANT_TABLES, composite_fks=COMPOSITE_FKS)


def _id() -> tuple[str, fields.UUIDField]:
    return ("id", fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True))


def _at(name: str, *, null: bool = False) -> tuple[str, Any]:
    if null:
        return (name, fields.DatetimeField(null=True, auto_now=False, auto_now_add=False))
    return (name, fields.DatetimeField(auto_now=False, auto_now_add=False))


class Migration(migrations.Migration):
    dependencies = [("danbao", "0015_workflow_timers")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ServiceTicket",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("number", fields.CharField(max_length=64)),
                ("subject", fields.CharField(max_length=200)),
                ("category", fields.CharField(max_length=32)),
                ("priority", fields.CharField(max_length=16)),
                ("status", fields.CharField(max_length=24)),
                ("version", fields.IntField(default=1)),
                ("opened_by_kind", fields.CharField(max_length=16)),
                ("opened_by", fields.UUIDField()),
                ("assignee_id", fields.UUIDField(null=True)),
                _at("respond_due_at"),
                _at("resolve_due_at"),
                _at("first_response_at", null=True),
                _at("resolved_at", null=True),
                _at("closed_at", null=True),
                _at("created_at"),
                _at("updated_at"),
            ],
            options={
                "table": "service_ticket",
                "app": "danbao",
                "unique_together": (("tenant_id", "number"),),
                "indexes": [
                    Index(fields=["tenant_id", "project_id", "created_at"]),
                    Index(fields=["tenant_id", "assignee_id", "status"]),
                ],
                "pk_attr": "id",
                "table_description": "A service ticket on a project, opened by its applicant or by staff.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="TicketReply",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("ticket_id", fields.UUIDField()),
                ("author_kind", fields.CharField(max_length=16)),
                ("author_id", fields.UUIDField()),
                ("body", fields.TextField()),
                ("internal", fields.BooleanField(default=False)),
                _at("at"),
            ],
            options={
                "table": "ticket_reply",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "ticket_id", "at"])],
                "pk_attr": "id",
                "table_description": "One message on a service ticket, internal notes for staff only.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
