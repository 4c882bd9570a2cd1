"""A guarantee in force: counter-guarantees (反担保), the bank's disbursement and the loan's
repayment schedule, repayments, and post-loan tasks (保后任务). Five tables, walled.

The operations follow ``tortoise makemigrations`` output (table descriptions avoid
apostrophes and semicolons, see 0004). On PostgreSQL each table gets ``walls.table_sql``
and composite keys to its project and users, so no row can point into another tenant;
checks keep codes to their lists and money and ratios in range.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from danbao.db import walls
from danbao.ids import new_id

TENANT_TABLES = (
    "counter_guarantee",
    "project_loan",
    "loan_installment",
    "loan_repayment",
    "aftercare_task",
)
COMPOSITE_FKS = (
    ("counter_guarantee", "project_id", "project", "RESTRICT"),
    ("counter_guarantee", "created_by", "app_user", "RESTRICT"),
    ("project_loan", "project_id", "project", "RESTRICT"),
    ("project_loan", "created_by", "app_user", "RESTRICT"),
    ("loan_installment", "project_id", "project", "RESTRICT"),
    ("loan_repayment", "project_id", "project", "RESTRICT"),
    ("loan_repayment", "created_by", "app_user", "RESTRICT"),
    ("aftercare_task", "project_id", "project", "RESTRICT"),
    ("aftercare_task", "done_by", "app_user", "RESTRICT"),
)

_CHECKS = """
ALTER TABLE counter_guarantee ADD CONSTRAINT counter_guarantee_ck
  CHECK (kind IN ('mortgage', 'pledge', 'guarantee')
         AND registration IN ('unregistered', 'registering', 'registered', 'cancelled')
         AND valuation >= 0 AND haircut BETWEEN 0 AND 1 AND version >= 1);
ALTER TABLE project_loan ADD CONSTRAINT project_loan_ck
  CHECK (amount > 0 AND principal_outstanding BETWEEN 0 AND amount AND periods >= 1
         AND method IN ('equal_principal', 'bullet', 'equal_installment')
         AND (annual_rate IS NULL OR annual_rate BETWEEN 0 AND 1));
ALTER TABLE loan_installment ADD CONSTRAINT loan_installment_ck
  CHECK (principal >= 0 AND interest >= 0 AND principal_paid BETWEEN 0 AND principal);
ALTER TABLE loan_repayment ADD CONSTRAINT loan_repayment_ck
  CHECK (principal >= 0 AND interest >= 0 AND principal + interest > 0
         AND outstanding_after >= 0);
ALTER TABLE aftercare_task ADD CONSTRAINT aftercare_task_ck
  CHECK (kind IN ('visit', 'renewal') AND status IN ('open', 'done', 'cancelled'));
"""

apply_walls, remove_walls = walls.migration_steps(
    TENANT_TABLES, composite_fks=COMPOSITE_FKS, then=_CHECKS
)


def _id() -> tuple[str, fields.Field]:
    return ("id", fields.UUIDField(primary_key=True, default=new_id, unique=True, db_index=True))


def _money(name: str, **kwargs: Any) -> tuple[str, fields.Field]:
    return (name, fields.DecimalField(max_digits=20, decimal_places=2, **kwargs))


class Migration(migrations.Migration):
    dependencies = [("danbao", "0021_service_tickets")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CounterGuarantee",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("kind", fields.CharField(max_length=16)),
                ("asset", fields.CharField(max_length=32)),
                ("description", fields.CharField(max_length=500)),
                ("owner", fields.CharField(max_length=200)),
                _money("valuation"),
                ("haircut", fields.DecimalField(max_digits=9, decimal_places=6)),
                ("registration", fields.CharField(default="unregistered", max_length=16)),
                ("certificate_no", fields.CharField(null=True, max_length=100)),
                ("registered_on", fields.DateField(null=True)),
                ("version", fields.IntField(default=1)),
                ("created_by", fields.UUIDField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                (
                    "released_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "counter_guarantee",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "project_id"])],
                "pk_attr": "id",
                "table_description": "One counter-guarantee of a project: mortgage, pledge or third-party guarantee.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="ProjectLoan",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("disbursed_on", fields.DateField()),
                _money("amount"),
                ("bank_reference", fields.CharField(max_length=100)),
                ("method", fields.CharField(max_length=24)),
                ("annual_rate", fields.DecimalField(max_digits=9, decimal_places=6, null=True)),
                ("periods", fields.IntField()),
                _money("principal_outstanding"),
                ("release_notice", fields.CharField(null=True, max_length=100)),
                ("release_notice_on", fields.DateField(null=True)),
                ("created_by", fields.UUIDField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "project_loan",
                "app": "danbao",
                "unique_together": (("tenant_id", "project_id"),),
                "pk_attr": "id",
                "table_description": "The bank disbursement of a project loan and how it is repaid.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="LoanInstallment",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("seq", fields.IntField()),
                ("due_on", fields.DateField()),
                _money("principal"),
                _money("interest", default=0),
                _money("principal_paid", default=0),
                ("settled_on", fields.DateField(null=True)),
            ],
            options={
                "table": "loan_installment",
                "app": "danbao",
                "unique_together": (("tenant_id", "project_id", "seq"),),
                "pk_attr": "id",
                "table_description": "One line of a loan repayment schedule.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="LoanRepayment",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("paid_on", fields.DateField()),
                _money("principal"),
                _money("interest", default=0),
                ("early", fields.BooleanField(default=False)),
                ("reference", fields.CharField(default="", max_length=100)),
                _money("outstanding_after"),
                ("created_by", fields.UUIDField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "loan_repayment",
                "app": "danbao",
                "indexes": [Index(fields=["tenant_id", "project_id", "paid_on"])],
                "pk_attr": "id",
                "table_description": "A repayment the borrower made and the balance after it.",
            },
            bases=["TenantModel"],
        ),
        ops.CreateModel(
            name="AftercareTask",
            fields=[
                _id(),
                ("tenant_id", fields.UUIDField()),
                ("project_id", fields.UUIDField()),
                ("rule_id", fields.CharField(max_length=63)),
                ("kind", fields.CharField(max_length=16)),
                ("title", fields.JSONField(default=dict)),
                ("due_on", fields.DateField()),
                ("status", fields.CharField(default="open", max_length=16)),
                ("note", fields.TextField(default="")),
                ("done_by", fields.UUIDField(null=True)),
                ("done_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "aftercare_task",
                "app": "danbao",
                "unique_together": (("tenant_id", "project_id", "rule_id", "due_on"),),
                "indexes": [Index(fields=["tenant_id", "status", "due_on"])],
                "pk_attr": "id",
                "table_description": "A post-loan task generated on the tenant rules: a visit or a document renewal.",
            },
            bases=["TenantModel"],
        ),
        ops.RunPython(apply_walls, remove_walls),
    ]
