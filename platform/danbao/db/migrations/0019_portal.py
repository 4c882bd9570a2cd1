"""The customer portal (docs/portal.md): applicants, their one-time sign-in codes and
their sessions, walled like every tenant table.

Written after ``tortoise makemigrations`` output. On PostgreSQL each table gets
``walls.table_sql``; an applicant has a composite key to its record-owner user and a
session to its applicant, so no row can point into another tenant. A destination is
unique per tenant by its keyed hash.
"""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = ("applicant", "applicant_code", "applicant_session")
COMPOSITE_FKS = (
    ("applicant", "user_id", "app_user", "RESTRICT"),
    ("applicant_session", "applicant_id", "applicant", "CASCADE"),
)

apply_walls, remove_walls = walls.migration_steps(TENANT_TABLES, composite_fks=COMPOSITE_FKS)


def _id() -> tuple[str, fields.UUIDField]:
    return ("id", fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True))


class Migration(migrations.Migration):
    dependencies = [("danbao", "0017_project_in_force")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Applicant",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("user_id", fields.UUIDField()),
                ("channel", fields.CharField(max_length=8)),
                ("destination_hash", fields.CharField(max_length=64)),
                ("destination_sealed", fields.TextField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "last_login_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "applicant",
                "app": "danbao",
                "unique_together": (("tenant_id", "destination_hash"),),
                "pk_attr": "id",
                "table_description": "A customer of the portal, apart from staff users.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="ApplicantCode",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("destination_hash", fields.CharField(max_length=64)),
                ("destination_sealed", fields.TextField()),
                ("channel", fields.CharField(max_length=8)),
                ("code_hash", fields.CharField(max_length=64)),
                ("attempts", fields.IntField(default=0)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("ip", fields.CharField(null=True, max_length=45)),
            ],
            options={
                "table": "applicant_code",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "destination_hash", "created_at"])],
                "pk_attr": "id",
                "table_description": "A one-time sign-in code sent to a destination.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="ApplicantSession",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("applicant_id", fields.UUIDField()),
                ("token_hash", fields.CharField(max_length=64)),
                ("csrf_token", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ip", fields.CharField(null=True, max_length=45)),
                ("user_agent", fields.CharField(null=True, max_length=300)),
            ],
            options={
                "table": "applicant_session",
                "app": "danbao",
                "unique_together": (("tenant_id", "token_hash"),),
                "pk_attr": "id",
                "table_description": "A signed-in applicant browser of the portal.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
