"""Default and recovery: overdue notices, compensation (代偿), recovery actions (追偿) with
their receipts, and write-offs (损失核销), each walled like every tenant table.

The operations follow ``tortoise makemigrations`` output (table descriptions avoid
apostrophes and semicolons, see 0004). On PostgreSQL every table gets ``walls.table_sql``
and composite keys to its project, its user, its approval and the row it belongs to, so
nothing can point into another tenant. Money that moved is never edited: compensation,
receipts and write-offs are append-only for the serving role. Checks keep the codes to
their vocabularies and the amounts consistent (an obliged amount is principal plus
interest, a loss is compensated minus recovered), and a partial unique index allows one
open overdue notice per project.
"""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = (
    "project_overdue",
    "project_compensation",
    "project_recovery",
    "project_recovery_receipt",
    "project_write_off",
)
APPEND_ONLY = ("project_compensation", "project_recovery_receipt", "project_write_off")
COMPOSITE_FKS = (
    ("project_overdue", "project_id", "project", "RESTRICT"),
    ("project_overdue", "created_by", "app_user", "RESTRICT"),
    ("project_compensation", "project_id", "project", "RESTRICT"),
    ("project_compensation", "overdue_id", "project_overdue", "RESTRICT"),
    ("project_compensation", "approval_id", "workflow_instance", "RESTRICT"),
    ("project_compensation", "created_by", "app_user", "RESTRICT"),
    ("project_recovery", "project_id", "project", "RESTRICT"),
    ("project_recovery", "created_by", "app_user", "RESTRICT"),
    ("project_recovery", "closed_by", "app_user", "RESTRICT"),
    ("project_recovery_receipt", "project_id", "project", "RESTRICT"),
    ("project_recovery_receipt", "recovery_id", "project_recovery", "RESTRICT"),
    ("project_recovery_receipt", "created_by", "app_user", "RESTRICT"),
    ("project_write_off", "project_id", "project", "RESTRICT"),
    ("project_write_off", "approval_id", "workflow_instance", "RESTRICT"),
    ("project_write_off", "created_by", "app_user", "RESTRICT"),
)
RECOVERY_KINDS = ("demand", "litigation", "enforcement", "collateral_disposal")
WRITE_OFF_BASES = ("judgment", "award_enforcement", "other")
"""Written out, not imported: a migration must not change when the code moves on."""

_CHECKS = f"""
ALTER TABLE project_overdue ADD CONSTRAINT project_overdue_ck
  CHECK (principal >= 0 AND interest >= 0 AND obliged = principal + interest
         AND obliged > 0 AND days_overdue >= 1
         AND status IN ('open', 'cured', 'compensated'));
CREATE UNIQUE INDEX project_overdue_one_open
  ON project_overdue (tenant_id, project_id) WHERE status = 'open';
ALTER TABLE project_compensation ADD CONSTRAINT project_compensation_ck CHECK (amount > 0);
ALTER TABLE project_recovery ADD CONSTRAINT project_recovery_ck
  CHECK (kind IN ({", ".join(f"'{k}'" for k in RECOVERY_KINDS)})
         AND status IN ('open', 'closed')
         AND (status = 'open') = (closed_on IS NULL));
ALTER TABLE project_recovery_receipt ADD CONSTRAINT project_recovery_receipt_ck
  CHECK (amount > 0);
ALTER TABLE project_write_off ADD CONSTRAINT project_write_off_ck
  CHECK (loss > 0 AND recovered >= 0 AND loss = compensated - recovered
         AND basis IN ({", ".join(f"'{b}'" for b in WRITE_OFF_BASES)}));
"""

apply_walls, remove_walls = walls.migration_steps(
    TENANT_TABLES, append_only=APPEND_ONLY, composite_fks=COMPOSITE_FKS, then=_CHECKS
)


def _id() -> tuple[str, fields.UUIDField]:
    return ("id", fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True))


def _money(name: str) -> tuple[str, fields.DecimalField]:
    return (name, fields.DecimalField(max_digits=20, decimal_places=2))


def _created() -> list[tuple[str, fields.Field]]:
    return [
        ("created_by", fields.UUIDField()),
        ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
    ]


class Migration(migrations.Migration):
    dependencies = [("danbao", "0016_workflow_migrations")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ProjectOverdue",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("notice_ref", fields.CharField(max_length=100)),
                ("notice_date", fields.DateField()),
                ("overdue_since", fields.DateField()),
                ("days_overdue", fields.IntField()),
                _money("principal"),
                _money("interest"),
                _money("obliged"),
                ("status", fields.CharField(default="open", max_length=16)),
                ("cured_on", fields.DateField(null=True)),
                *_created(),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "project_overdue",
                "app": "danbao",
                "indexes": [
                    Index(fields=["tenant_id", "project_id"]),
                    Index(fields=["tenant_id", "status"]),
                ],
                "pk_attr": "id",
                "table_description": "The overdue notice of the bank: what the guarantor is obliged to pay and has not yet paid.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="ProjectCompensation",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("overdue_id", fields.UUIDField()),
                ("approval_id", fields.UUIDField()),
                _money("amount"),
                ("paid_on", fields.DateField()),
                ("bank_receipt_ref", fields.CharField(max_length=100)),
                *_created(),
            ],
            options={
                "table": "project_compensation",
                "app": "danbao",
                "unique_together": (("tenant_id", "project_id"),),
                "pk_attr": "id",
                "table_description": "The payment of the guarantor to the bank for an overdue notice, carried by an approval.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="ProjectRecovery",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("kind", fields.CharField(max_length=24)),
                ("status", fields.CharField(default="open", max_length=16)),
                ("started_on", fields.DateField()),
                ("reference", fields.CharField(null=True, max_length=100)),
                ("note", fields.TextField(default="")),
                ("closed_on", fields.DateField(null=True)),
                ("outcome", fields.TextField(default="")),
                *_created(),
                ("closed_by", fields.UUIDField(null=True)),
            ],
            options={
                "table": "project_recovery",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "project_id"])],
                "pk_attr": "id",
                "table_description": "One recovery action after compensation: demand, litigation, enforcement or disposal of collateral.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="ProjectRecoveryReceipt",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("recovery_id", fields.UUIDField()),
                _money("amount"),
                ("received_on", fields.DateField()),
                ("reference", fields.CharField(null=True, max_length=100)),
                *_created(),
            ],
            options={
                "table": "project_recovery_receipt",
                "app": "danbao",
                "indexes": [
                    Index(fields=["tenant_id", "project_id"]),
                    Index(fields=["tenant_id", "recovery_id"]),
                ],
                "pk_attr": "id",
                "table_description": "An amount recovered by a recovery action, on a date.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="ProjectWriteOff",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("approval_id", fields.UUIDField()),
                _money("compensated"),
                _money("recovered"),
                _money("loss"),
                ("written_off_on", fields.DateField()),
                ("basis", fields.CharField(max_length=24)),
                ("evidence", fields.JSONField(default=list)),
                *_created(),
            ],
            options={
                "table": "project_write_off",
                "app": "danbao",
                "unique_together": (("tenant_id", "project_id"),),
                "pk_attr": "id",
                "table_description": "The loss recognised for a project, with the evidence that proves it unrecoverable.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
