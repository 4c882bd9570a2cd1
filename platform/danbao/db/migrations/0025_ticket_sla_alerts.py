"""When a ticket's SLA breach was announced: ``respond_alerted_at`` and
``resolve_alerted_at`` on ``service_ticket``, so the minute sweep tells its people once
(``tickets.sla_sweep``). Columns on a walled table: no new walls."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("danbao", "0024_contact_ids")]

    initial = False

    operations = [
        ops.AddField(
            model_name="ServiceTicket",
            name=name,
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        )
        for name in ("respond_alerted_at", "resolve_alerted_at")
    ]
