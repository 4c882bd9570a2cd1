"""Guarantee projects: the ``project`` table, walled like every tenant table.

The operation was written in the shape ``tortoise makemigrations`` generates (the table
description avoids apostrophes and semicolons, see 0004). On PostgreSQL the table gets
``walls.table_sql`` and composite keys to the application record it came from and to its
creator, so no project can point at another tenant's record or user; a check keeps the
state to the codes of ``danbao.guarantee.states`` and the amounts in range.
"""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = ("project",)
COMPOSITE_FKS = (
    ("project", "record_id", "form_record", "RESTRICT"),
    ("project", "created_by", "app_user", "RESTRICT"),
)
STATES = (
    "DRAFT", "SUBMITTED", "DUE_DILIGENCE", "UNDER_REVIEW", "APPROVED", "REJECTED", "WITHDRAWN",
    "CONTRACTING", "CONTRACTED", "LETTER_ISSUED", "ACTIVE", "WATCHLIST", "OVERDUE",
    "COMPENSATED", "RECOVERING", "RELEASED", "RECOVERY_CLOSED", "WRITTEN_OFF",
)  # fmt: skip
"""Written out, not imported: a migration must not change when the code moves on."""

_CHECKS = f"""
ALTER TABLE project ADD CONSTRAINT project_state_ck
  CHECK (state IN ({", ".join(f"'{s}'" for s in STATES)}));
ALTER TABLE project ADD CONSTRAINT project_amounts_ck
  CHECK (amount > 0 AND bank_risk_share BETWEEN 0 AND 1
         AND (fee_rate IS NULL OR fee_rate BETWEEN 0 AND 1) AND version >= 1);
"""


# The checks go with the table when the migration is reversed.
apply_walls, remove_walls = walls.migration_steps(
    TENANT_TABLES, composite_fks=COMPOSITE_FKS, then=_CHECKS
)


class Migration(migrations.Migration):
    dependencies = [("danbao", "0011_workflows")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Project",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True),
                ),
                ("tenant_id", fields.UUIDField()),
                ("record_id", fields.UUIDField()),
                ("form_id", fields.CharField(max_length=63)),
                ("number", fields.CharField(max_length=64)),
                ("state", fields.CharField(max_length=20)),
                ("version", fields.IntField(default=1)),
                ("business_type", fields.CharField(max_length=32)),
                ("client_type", fields.CharField(max_length=16)),
                ("amount", fields.DecimalField(max_digits=20, decimal_places=2)),
                ("term_months", fields.IntField(null=True)),
                ("fee_rate", fields.DecimalField(max_digits=9, decimal_places=6, null=True)),
                ("lending_bank", fields.CharField(null=True, max_length=100)),
                (
                    "bank_risk_share",
                    fields.DecimalField(max_digits=9, decimal_places=6, default=0),
                ),
                ("borrower_id_hash", fields.CharField(max_length=64)),
                ("borrower_id_sealed", fields.TextField()),
                ("related_group", fields.CharField(null=True, max_length=100)),
                ("industry", fields.CharField(null=True, max_length=100)),
                ("region", fields.CharField(null=True, max_length=100)),
                ("created_by", fields.UUIDField()),
                ("department", fields.CharField(null=True, max_length=63)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "project",
                "app": "danbao",
                "unique_together": (("tenant_id", "record_id"),),
                "indexes": [
                    Index(fields=["tenant_id", "state"]),
                    Index(fields=["tenant_id", "borrower_id_hash"]),
                    Index(fields=["tenant_id", "related_group"]),
                ],
                "pk_attr": "id",
                "table_description": "A guarantee project: what a submitted application record became.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
