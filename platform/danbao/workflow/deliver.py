"""Sending pending notifications through the tenant's messaging plug-in (WeCom, e-mail,
…), after the action that wrote them committed, through the plug-in call path (its rate
limit, breaker, retries and audit). The internal list stays the record: a message the
channel refuses or cannot take is marked ``failed`` there, with why in
``delivery_error``, and nothing else is undone.

Each channel names people its own way (``Plugin.recipient``): e-mail, a WeCom user id or
a mobile number. The user's identifier comes from their contact ids (``auth.contacts``);
a user without the one the channel wants fails with ``no_<recipient>`` and is sent once
an administrator fills it in and resends (:func:`failed_since`, then :func:`deliver`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.auth.contacts import contacts_by_user
from danbao.db.models import Notification, User
from danbao.plugins import results as r
from danbao.plugins.checks import plugin_for
from danbao.plugins.errors import PluginError
from danbao.plugins.gateway import PluginGateway
from danbao.plugins.sdk import PluginKind
from danbao.tenancy.context import current_tenant

log = logging.getLogger(__name__)
PURPOSE = "notification"
RESEND_LIMIT = 500  # failed notifications taken by one resend, oldest first


async def deliver(gateway: PluginGateway, ids: Sequence[str]) -> dict[str, int]:
    """Send the given pending notifications (tenant in context, no transaction open)."""
    counts = {"sent": 0, "failed": 0}
    plugin_id = await plugin_for(PluginKind.MESSAGING)
    if plugin_id is None or not ids:
        return counts
    recipient = gateway.lookup(plugin_id).recipient
    async with in_transaction():
        rows = await Notification.filter(id__in=list(ids), delivery="pending")
        users = await User.filter(id__in=[row.user_id for row in rows]).values(
            "id", "email", "wecom_userid", "mobile_sealed"
        )
        addresses = await contacts_by_user(gateway.keys, users, recipient)
    for row in rows:
        error: str | None = "no_user" if row.user_id not in addresses else None
        address = addresses.get(row.user_id)
        if error is None and address is None:
            error = f"no_{recipient.value}"
        elif address is not None:
            error = await _send(gateway, plugin_id, row, address)
        async with in_transaction():
            await Notification.filter(id=row.id).update(
                delivery="failed" if error else "sent", delivery_error=error
            )
        counts["failed" if error else "sent"] += 1
    return counts


async def _send(
    gateway: PluginGateway, plugin_id: str, row: Notification, address: str
) -> str | None:
    """None when the channel took it, else the error code kept on the notification."""
    message = r.Message((address,), row.title, row.body or row.title)
    try:
        outcome = await gateway.call(plugin_id, "send", message, purpose=PURPOSE)
    except PluginError as failure:  # audited by the call path; the list keeps it
        log.info("notification %s not sent: %s", row.id, failure.code)
        return f"plugin_{failure.code}"[:64]
    # WeCom and e-mail name the recipients they could not reach (unknown user id, …).
    if address in outcome.data.get("rejected", ()):
        return "rejected"
    return None


async def failed_since(days: int) -> list[str]:
    """Claim the failed notifications of the last ``days`` days for a resend (audited):
    each is turned back to ``pending`` by exactly one caller, so two resends never send
    it twice. The caller hands the ids to :func:`deliver` after its transaction."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    async with in_transaction():
        found = (
            await Notification.filter(delivery="failed", created_at__gte=since)
            .order_by("created_at", "id")
            .limit(RESEND_LIMIT)
            .values_list("id", flat=True)
        )
        claimed: list[str] = []
        for notification_id in found:
            if await Notification.filter(id=notification_id, delivery="failed").update(
                delivery="pending", delivery_error=None
            ):
                claimed.append(str(notification_id))
        if claimed:
            tenant = str(current_tenant().tenant_id)
            await record_event(
                "notification.resend", "tenant", tenant, {"days": days, "count": len(claimed)}
            )
    return claimed
