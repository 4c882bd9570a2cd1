"""Sending pending notifications through the tenant's messaging plug-in (WeCom, e-mail,
…), after the action that wrote them committed, through the plug-in call path (its rate
limit, breaker, retries and audit). The internal list stays the record: a message the
channel refuses or cannot take is marked ``failed`` there and nothing else is undone.
Recipients are named by e-mail, which every messaging kind here accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tortoise.transactions import in_transaction

from danbao.db.models import Notification, User
from danbao.plugins import results as r
from danbao.plugins.checks import plugin_for
from danbao.plugins.errors import PluginError
from danbao.plugins.gateway import PluginGateway
from danbao.plugins.sdk import PluginKind

log = logging.getLogger(__name__)
PURPOSE = "notification"


async def deliver(gateway: PluginGateway, ids: Sequence[str]) -> dict[str, int]:
    """Send the given pending notifications (tenant in context, no transaction open)."""
    counts = {"sent": 0, "failed": 0}
    plugin_id = await plugin_for(PluginKind.MESSAGING)
    if plugin_id is None or not ids:
        return counts
    async with in_transaction():
        rows = await Notification.filter(id__in=list(ids), delivery="pending")
        users = await User.filter(id__in=[row.user_id for row in rows]).values("id", "email")
    emails = {u["id"]: u["email"] for u in users}
    for row in rows:
        outcome = "failed"
        if row.user_id in emails:
            message = r.Message((emails[row.user_id],), row.title, row.body or row.title)
            try:
                await gateway.call(plugin_id, "send", message, purpose=PURPOSE)
                outcome = "sent"
            except PluginError as failure:  # audited by the call path; the list keeps it
                log.info("notification %s not sent: %s", row.id, failure)
        async with in_transaction():
            await Notification.filter(id=row.id).update(delivery=outcome)
        counts[outcome] += 1
    return counts
