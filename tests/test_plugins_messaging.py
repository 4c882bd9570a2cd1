"""Messaging channels against local fakes: WeCom robot and app messages, and SMTP e-mail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from danbao.plugins import PermanentError, TransientError, results
from danbao.plugins.contract import PluginContract
from danbao.plugins.email_smtp import SmtpEmail
from danbao.plugins.wecom import WeComApp, WeComRobot

from .conftest import _free_port, serving

ROBOT_KEY = "robot-key-0123456789"
CORP, SECRET = "ww1234567890", "corp-secret-abcdef"


class FakeWeCom:
    def __init__(self) -> None:
        self.base = ""
        self.robot_sent: list[dict[str, Any]] = []
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.app_sent: list[dict[str, Any]] = []

    async def robot(self, request: Request) -> JSONResponse:
        if request.query_params.get("key") != ROBOT_KEY:
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        body = await request.json()
        if len(self.robot_sent) >= 20:
            return JSONResponse({"errcode": 130101, "errmsg": "send too fast"})
        if len(body["text"]["content"].encode()) > 2048:
            return JSONResponse({"errcode": 40058, "errmsg": "content exceed max length"})
        self.robot_sent.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def gettoken(self, request: Request) -> JSONResponse:
        q = request.query_params
        if (q.get("corpid"), q.get("corpsecret")) != (CORP, SECRET):
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return JSONResponse({"errcode": 0, "access_token": token, "expires_in": 7200})

    async def app_send(self, request: Request) -> JSONResponse:
        if request.query_params.get("access_token") not in self.valid_tokens:
            return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
        body = await request.json()
        self.app_sent.append(body)
        gone = [u for u in body["touser"].split("|") if u.startswith("gone")]
        return JSONResponse(
            {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(gone), "msgid": "m1"}
        )


@asynccontextmanager
async def serve_wecom() -> AsyncIterator[FakeWeCom]:
    """The fake WeCom on a local port (also used by tests/test_contact_ids.py)."""
    fake = FakeWeCom()
    app = Starlette(
        routes=[
            Route("/cgi-bin/webhook/send", fake.robot, methods=["POST"]),
            Route("/cgi-bin/gettoken", fake.gettoken, methods=["GET"]),
            Route("/cgi-bin/message/send", fake.app_send, methods=["POST"]),
        ]
    )
    async with serving(app) as url:
        fake.base = url
        yield fake


@pytest.fixture(scope="module")
async def wecom() -> AsyncIterator[FakeWeCom]:
    async with serve_wecom() as fake:
        yield fake


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


MESSAGE = results.Message(("13800138000",), "待办提醒", "项目 DB-2026-00012 等待您审批")


class TestWeComRobotContract(PluginContract):
    plugin = WeComRobot
    samples = {"send": [MESSAGE]}  # noqa: RUF012

    @pytest.fixture(autouse=True)
    def _against_the_fake(self, wecom: FakeWeCom) -> None:
        type(self).settings = {"key": ROBOT_KEY, "base_url": wecom.base}


class TestWeComAppContract(PluginContract):
    plugin = WeComApp
    samples = {"send": [results.Message(("zhangsan",), "待办提醒", "请审批")]}  # noqa: RUF012

    @pytest.fixture(autouse=True)
    def _against_the_fake(self, wecom: FakeWeCom) -> None:
        type(self).settings = {
            "corp_id": CORP,
            "corp_secret": SECRET,
            "agent_id": 1000002,
            "base_url": wecom.base,
        }


class TestSmtpContract(PluginContract):
    plugin = SmtpEmail
    samples = {"send": [results.Message(("risk@example.com",), "待办提醒", "请审批")]}  # noqa: RUF012

    @pytest.fixture(autouse=True)
    def _against_the_fake(self, smtp: tuple[Inbox, int]) -> None:
        type(self).settings = {
            "host": "127.0.0.1",
            "port": smtp[1],
            "security": "none",
            "from_address": "noreply@danbao.test",
            "from_name": "担保云",
        }


async def test_the_robot_mentions_mobiles_cuts_long_text_and_backs_off_at_its_limit(
    wecom: FakeWeCom,
) -> None:
    robot = WeComRobot({"key": ROBOT_KEY, "base_url": wecom.base})
    try:
        wecom.robot_sent.clear()
        await robot.send(MESSAGE)
        assert wecom.robot_sent[-1]["text"]["mentioned_mobile_list"] == ["13800138000"]
        long = results.Message((), "长消息", "担" * 1000)  # 3,000 bytes of UTF-8
        await robot.send(long)
        assert len(wecom.robot_sent[-1]["text"]["content"].encode()) <= 2048
        wecom.robot_sent.extend([{}] * 18)
        with pytest.raises(TransientError) as limited:
            await robot.send(MESSAGE)
        assert limited.value.delivered is False  # WeCom refused it: safe to retry later
        wrong = WeComRobot({"key": "wrong-key-000000", "base_url": wecom.base})
        with pytest.raises(PermanentError, match="93000"):
            await wrong.send(MESSAGE)
        await wrong.aclose()
    finally:
        wecom.robot_sent.clear()
        await robot.aclose()


async def test_app_messages_cache_the_token_and_renew_it_once_when_expired(
    wecom: FakeWeCom,
) -> None:
    settings = {"corp_id": CORP, "corp_secret": SECRET, "agent_id": 1000002, "base_url": wecom.base}
    first, second = WeComApp(settings), WeComApp(settings)
    try:
        wecom.valid_tokens.clear()  # whatever this process cached has expired at WeCom
        issued = wecom.tokens_issued
        await first.send(results.Message(("zhangsan",), "提醒", "a"))
        delivery = await second.send(results.Message(("lisi", "gone-wangwu"), "提醒", "b"))
        assert wecom.tokens_issued == issued + 1  # renewed once, then shared by both
        assert delivery.accepted == ("lisi",) and delivery.rejected == ("gone-wangwu",)
        assert wecom.app_sent[-1]["touser"] == "lisi|gone-wangwu"
        assert wecom.app_sent[-1]["enable_duplicate_check"] == 1
        wecom.valid_tokens.clear()  # WeCom expires every token
        await first.send(results.Message(("zhangsan",), "提醒", "c"))
        assert wecom.tokens_issued == issued + 2  # renewed exactly once
        assert wecom.app_sent[-1]["text"]["content"].endswith("c")
    finally:
        await first.aclose()
        await second.aclose()


async def test_email_goes_out_with_a_chinese_subject_and_refused_recipients_reported(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    mailer = SmtpEmail(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "noreply@danbao.test",
        }
    )
    delivery = await mailer.send(
        results.Message(
            ("risk@example.com", "nobody@example.com"), "待办提醒", "请审批 DB-2026-00012"
        )
    )
    assert delivery.accepted == ("risk@example.com",)
    assert delivery.rejected == ("nobody@example.com",)
    received = inbox.messages[-1]
    assert str(make_header(decode_header(received["Subject"]))) == "待办提醒"
    assert "DB-2026-00012" in received.get_payload(decode=True).decode()
    with pytest.raises(PermanentError, match="every recipient"):
        await mailer.send(results.Message(("nobody@example.com",), "提醒", "x"))
    closed = SmtpEmail(
        {"host": "127.0.0.1", "port": _free_port(), "security": "none", "from_address": "a@b.cn"}
    )
    with pytest.raises(TransientError):
        await closed.send(MESSAGE)
    assert not (await closed.health()).ok and (await mailer.health()).ok
