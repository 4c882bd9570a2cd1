"""DingTalk custom group robot as a Danbao messaging channel.

DingTalk signs robot calls with the robot's secret: ``sign = base64(HMAC-SHA256(secret,
f"{timestamp_ms}\\n{secret}"))``, sent URL-encoded as ``sign`` beside ``timestamp`` and
the robot's ``access_token``. A robot takes 20 messages a minute (errcode 130101 beyond),
which the plug-in declares so the call path enforces it before DingTalk has to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar

import httpx

from danbao.plugins import (
    Label,
    PermanentError,
    Plugin,
    PluginKind,
    Recipient,
    TransientError,
    results,
    vendor_request,
)

DEFAULT_ENDPOINT = "https://oapi.dingtalk.com/robot/send"
RATE_LIMITED = 130101
MAX_TEXT_BYTES = 20_000


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class DingTalkRobot(Plugin):
    id = "dingtalk.robot"
    kind = PluginKind.MESSAGING
    title = Label("钉钉群机器人", "DingTalk group robot")
    recipient = Recipient.MOBILE  # the robot @-mentions people by mobile number
    rate_per_minute = 20
    timeout_s = 5.0
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["access_token", "secret"],
        "properties": {
            "access_token": {"type": "string", "minLength": 16, "x-secret": True},
            "secret": {"type": "string", "pattern": "^SEC", "x-secret": True},
            "endpoint": {"type": "string", "format": "uri", "default": DEFAULT_ENDPOINT},
        },
        "additionalProperties": False,
    }

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self._http = httpx.AsyncClient(timeout=self.timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _params(self) -> dict[str, str]:
        now = int(time.time() * 1000)
        return {
            "access_token": self.settings["access_token"],
            "timestamp": str(now),
            "sign": sign(self.settings["secret"], now),
        }

    async def send(self, message: results.Message) -> results.Delivery:
        text = f"{message.title}\n{message.text}"
        if len(text.encode()) > MAX_TEXT_BYTES:
            raise PermanentError("message longer than DingTalk accepts")
        body = {
            "msgtype": "text",
            "text": {"content": text},
            # Recipients are mobiles: DingTalk @-mentions them in the group.
            "at": {"atMobiles": list(message.recipients), "isAtAll": False},
        }
        endpoint = self.settings.get("endpoint", DEFAULT_ENDPOINT)
        # The SDK sorts network failures and 5xx into retryable errors for us.
        answer = await vendor_request(
            self._http, "POST", endpoint, params=self._params(), json=body
        )
        reply = answer.json()
        if reply.get("errcode") == RATE_LIMITED:
            raise TransientError("DingTalk robot rate limit", delivered=False)
        if reply.get("errcode") != 0:
            raise PermanentError(f"DingTalk refused: {reply.get('errcode')} {reply.get('errmsg')}")
        return results.Delivery(
            "dingtalk", f"dingtalk-{int(time.time() * 1000)}", message.recipients
        )

    async def health(self) -> results.Health:
        # DingTalk has no "ping": a well-formed but empty call proves token and signature.
        endpoint = self.settings.get("endpoint", DEFAULT_ENDPOINT)
        started = time.perf_counter()
        try:
            answer = await self._http.post(endpoint, params=self._params(), json={})
        except httpx.TransportError as exc:
            return results.Health(False, f"unreachable: {type(exc).__name__}")
        reply = answer.json() if answer.status_code < 500 else {}
        # 40035 (missing msgtype) means the token and signature were accepted.
        ok = reply.get("errcode") in (0, 40035)
        latency = round((time.perf_counter() - started) * 1000, 1)
        return results.Health(ok, str(reply.get("errmsg", answer.status_code)), latency)
