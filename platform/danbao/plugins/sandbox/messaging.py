"""A sandbox messaging channel: keeps what it was asked to send, in a bounded outbox."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from danbao.plugins import results as r
from danbao.plugins.sdk import Label, Plugin, PluginKind

from . import seed


class SandboxMessaging(Plugin):
    id = "sandbox.messaging"
    kind = PluginKind.MESSAGING
    title = Label("消息通知（沙箱）", "Messaging (sandbox)")
    sandbox = True
    # As strict as a WeCom group robot, so demos meet the same limit production will.
    rate_per_minute = 20
    settings_schema: ClassVar = {
        "type": "object",
        "properties": {
            "sender": {"type": "string", "title": "发送方名称", "maxLength": 40},
        },
        "additionalProperties": False,
    }
    outbox: ClassVar[deque[tuple[str, r.Message]]] = deque(maxlen=1000)

    async def send(self, message: r.Message) -> r.Delivery:
        # Recipients named "invalid…" are refused, as a vendor refuses unknown users.
        accepted = tuple(x for x in message.recipients if not x.startswith("invalid"))
        rejected = tuple(x for x in message.recipients if x.startswith("invalid"))
        message_id = f"sbx-{seed(message.title, message.text, *message.recipients):x}"
        self.outbox.append((self.settings.get("sender", ""), message))
        return r.Delivery("sandbox", message_id, accepted, rejected)
