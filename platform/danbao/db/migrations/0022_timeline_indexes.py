"""Indexes for a project's timeline: audit events by the object they are about, in chain
order, and plug-in results by the record they were asked for.

The project page reads the audit events of a project, its application record, its
approvals, documents and tickets (``guarantee.timeline``); without the index each page
scanned every audit event of the tenant. No new table, so no walls.
"""

from __future__ import annotations

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("danbao", "0019_portal")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="AuditEvent", index=Index(fields=["tenant_id", "object_id", "seq"])
        ),
        ops.AddIndex(model_name="PluginResult", index=Index(fields=["tenant_id", "record_id"])),
    ]
