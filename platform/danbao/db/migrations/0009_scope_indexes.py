"""An index for the department data scopes: (tenant, form, department, created_at).

A department or department-and-below scope filters a form's records by ``department``
and lists them newest first; its count ran as a scan of every record of the form
(``bench/authz.py``, docs/benchmarks.md). With this index the count reads the index alone
and the page walks it in order. The own scope already has ``(tenant_id, form_id,
created_by)`` from 0004; conditions on record data use the GIN index on ``data`` (0004)
for their equalities. No new table, so no walls.
"""

from __future__ import annotations

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("danbao", "0008_plugin_callbacks")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Record",
            index=Index(fields=["tenant_id", "form_id", "department", "created_at"]),
        ),
    ]
