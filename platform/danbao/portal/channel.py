"""Sending a sign-in code through the tenant's messaging plug-in, after the request's
transaction committed (the plug-in call path holds no transaction around a vendor call).

An e-mail address goes through ``email.smtp`` when the tenant enabled it; a mobile number
through any other enabled messaging channel (no SMS vendor is bundled yet: the demo's
``sandbox.messaging`` stands in). A sandbox channel's code may be shown on the page, and
only in the embedded (demo) mode: never in production.
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from tortoise.transactions import in_transaction

from danbao.config import Settings
from danbao.db.models import PluginSetting
from danbao.plugins import catalog
from danbao.plugins import results as r
from danbao.plugins.errors import PluginError
from danbao.plugins.gateway import PluginGateway
from danbao.plugins.sdk import PluginKind
from danbao.tenancy.context import current_tenant, tenant_scope

from .identity import Destination

log = logging.getLogger(__name__)
PURPOSE = "portal_sign_in"
EMAIL_PLUGIN = "email.smtp"


async def channel_for(destination: Destination) -> str | None:
    """The enabled messaging plug-in that reaches ``destination``, or None."""
    async with in_transaction():
        rows = await PluginSetting.filter(enabled=True).order_by("plugin_id")
    installed = catalog.installed()
    enabled = [
        row.plugin_id
        for row in rows
        if row.plugin_id in installed and installed[row.plugin_id].kind == PluginKind.MESSAGING
    ]
    if destination.channel == "email" and EMAIL_PLUGIN in enabled:
        return EMAIL_PLUGIN
    others = [p for p in enabled if p != EMAIL_PLUGIN]
    return others[0] if others else None


def shows_code(settings: Settings, plugin_id: str) -> bool:
    """Whether the page may print the code: a sandbox channel, in the embedded demo only."""
    plugin = catalog.installed().get(plugin_id)
    return settings.mode == "embedded" and plugin is not None and bool(plugin.sandbox)


def send_later(
    gateway: PluginGateway, plugin_id: str, destination: Destination, title: str, text: str
) -> BackgroundTask:
    context = current_tenant()

    async def send() -> None:
        with tenant_scope(context):
            try:
                await gateway.call(
                    plugin_id, "send", r.Message((destination.value,), title, text), purpose=PURPOSE
                )
            except PluginError as failure:  # audited by the call path; the applicant may resend
                log.info("sign-in code to %s not sent: %s", destination.masked, failure.code)
            except Exception:
                log.exception("sending a sign-in code failed")

    return BackgroundTask(send)
