"""WeCom (企业微信) channels: the group robot webhook and the app message API.

Robot: POST ``/cgi-bin/webhook/send?key=…`` with a text message mentioning mobiles; 20
messages a minute per robot (errcode 130101 beyond), text at most 2,048 bytes. App
message: an access token from ``gettoken`` (valid 7,200 s, cached per corp and secret in
this process, refreshed once when WeCom says it expired), then ``message/send`` to user
ids joined by ``|``; WeCom lists the users it could not reach, which come back rejected.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from . import results as r
from .errors import PermanentError, TransientError
from .http import HttpPlugin, vendor_request
from .sdk import Label, PluginKind, Recipient

API = "https://qyapi.weixin.qq.com"
MAX_TEXT_BYTES = 2048
RATE_LIMITED = 130101
TOKEN_EXPIRED = frozenset({40014, 42001})
BUSY = frozenset({-1, 45009})  # system busy; api frequency limit


def _text(message: r.Message) -> str:
    text = f"{message.title}\n{message.text}" if message.title else message.text
    encoded = text.encode()
    if len(encoded) <= MAX_TEXT_BYTES:
        return text
    # Cut at a character boundary, never inside a UTF-8 sequence.
    return encoded[: MAX_TEXT_BYTES - 3].decode(errors="ignore") + "…"


class _WeCom(HttpPlugin):
    hosts: ClassVar[Mapping[str, str]] = {"production": API}

    async def _post(
        self, path: str, params: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        answer = await vendor_request(self._http, "POST", path, params=params, json=body)
        reply: dict[str, Any] = answer.json()
        code = reply.get("errcode", 0)
        if code == RATE_LIMITED or code in BUSY:
            raise TransientError(f"WeCom {code}: {reply.get('errmsg')}", delivered=False)
        return reply


class WeComRobot(_WeCom):
    id = "wecom.robot"
    kind = PluginKind.MESSAGING
    title = Label("企业微信群机器人", "WeCom group robot")
    recipient = Recipient.MOBILE  # @-mentions in the group by mobile number
    rate_per_minute = 20
    timeout_s = 5.0
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["key"],
        "properties": {
            "key": {"type": "string", "minLength": 8, "x-secret": True},
            "base_url": {"type": "string", "format": "uri"},
        },
        "additionalProperties": False,
    }

    async def send(self, message: r.Message) -> r.Delivery:
        body = {
            "msgtype": "text",
            "text": {"content": _text(message), "mentioned_mobile_list": list(message.recipients)},
        }
        reply = await self._post("/cgi-bin/webhook/send", {"key": self.settings["key"]}, body)
        if reply.get("errcode") != 0:
            raise PermanentError(f"WeCom {reply.get('errcode')}: {reply.get('errmsg')}")
        digest = hashlib.sha256(repr(body).encode()).hexdigest()[:16]
        return r.Delivery("wecom.robot", f"robot-{digest}", message.recipients)


# (corp id, secret digest) -> (token, monotonic expiry); shared by every instance.
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
TOKEN_MARGIN_S = 300  # renew a little before WeCom's 7,200 s run out


class WeComApp(_WeCom):
    id = "wecom.app"
    kind = PluginKind.MESSAGING
    title = Label("企业微信应用消息", "WeCom app message")
    recipient = Recipient.WECOM_USERID  # ``touser`` takes WeCom user ids
    rate_per_minute = 600
    timeout_s = 5.0
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["corp_id", "corp_secret", "agent_id"],
        "properties": {
            "corp_id": {"type": "string", "pattern": "^ww[0-9a-zA-Z]{6,}$"},
            "corp_secret": {"type": "string", "minLength": 8, "x-secret": True},
            "agent_id": {"type": "integer", "minimum": 1},
            "base_url": {"type": "string", "format": "uri"},
        },
        "additionalProperties": False,
    }

    def _token_key(self) -> tuple[str, str]:
        secret = hashlib.sha256(self.settings["corp_secret"].encode()).hexdigest()
        return (self.settings["corp_id"], secret)

    async def _token(self, *, fresh: bool = False) -> str:
        key = self._token_key()
        cached = _tokens.get(key)
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        answer = await vendor_request(
            self._http,
            "GET",
            "/cgi-bin/gettoken",
            params={"corpid": key[0], "corpsecret": self.settings["corp_secret"]},
        )
        reply = answer.json()
        if reply.get("errcode", 0) != 0:
            raise PermanentError(f"WeCom gettoken {reply.get('errcode')}: {reply.get('errmsg')}")
        expires = time.monotonic() + int(reply.get("expires_in", 7200)) - TOKEN_MARGIN_S
        _tokens[key] = (reply["access_token"], expires)
        return str(reply["access_token"])

    async def send(self, message: r.Message) -> r.Delivery:
        body = {
            "touser": "|".join(message.recipients),
            "msgtype": "text",
            "agentid": self.settings["agent_id"],
            "text": {"content": _text(message)},
            # WeCom drops a repeat within 30 minutes: a retried send is never doubled.
            "enable_duplicate_check": 1,
            "duplicate_check_interval": 1800,
        }
        reply = await self._post(
            "/cgi-bin/message/send", {"access_token": await self._token()}, body
        )
        if reply.get("errcode") in TOKEN_EXPIRED:
            token = await self._token(fresh=True)
            reply = await self._post("/cgi-bin/message/send", {"access_token": token}, body)
        if reply.get("errcode") != 0:
            raise PermanentError(f"WeCom {reply.get('errcode')}: {reply.get('errmsg')}")
        invalid = set(filter(None, str(reply.get("invaliduser", "")).split("|")))
        accepted = tuple(u for u in message.recipients if u not in invalid)
        rejected = tuple(u for u in message.recipients if u in invalid)
        return r.Delivery("wecom.app", str(reply.get("msgid", "")), accepted, rejected)

    async def health(self) -> r.Health:
        started = time.perf_counter()
        try:
            await self._token(fresh=True)
        except (PermanentError, TransientError) as exc:
            return r.Health(False, str(exc))
        return r.Health(True, "token issued", round((time.perf_counter() - started) * 1000, 1))
