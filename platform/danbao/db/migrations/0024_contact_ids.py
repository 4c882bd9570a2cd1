"""Contact ids for messaging channels: a user's WeCom user id and sealed mobile number,
and why a notification was not sent. Columns on walled tables only, so no new walls."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("danbao", "0018_project_default")]

    initial = False

    operations = [
        ops.AddField(
            model_name="User", name="wecom_userid", field=fields.CharField(max_length=64, null=True)
        ),
        ops.AddField(model_name="User", name="mobile_sealed", field=fields.TextField(null=True)),
        ops.AddField(
            model_name="Notification",
            name="delivery_error",
            field=fields.CharField(max_length=64, null=True),
        ),
    ]
