"""The example plug-in under the contract kit, against a fake DingTalk that checks signatures."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from danbao_dingtalk import DingTalkRobot, sign
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from danbao.plugins import PermanentError, catalog, results
from danbao.plugins.contract import PluginContract

TOKEN = "t" * 32
SECRET = "SECexample0123456789"


class FakeDingTalk:
    def __init__(self) -> None:
        self.received: list[dict] = []

    async def send(self, request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("access_token") != TOKEN:
            return JSONResponse({"errcode": 300001, "errmsg": "token is not exist"})
        stamp = int(q.get("timestamp", "0"))
        if abs(time.time() * 1000 - stamp) > 3_600_000 or q.get("sign") != sign(SECRET, stamp):
            return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
        body = await request.json()
        if "msgtype" not in body:
            return JSONResponse({"errcode": 40035, "errmsg": "缺少参数 msgtype"})
        self.received.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


@pytest.fixture(scope="module")
async def dingtalk() -> AsyncIterator[tuple[FakeDingTalk, str]]:
    fake = FakeDingTalk()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/robot/send", fake.send, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers no event to await  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    yield fake, f"http://127.0.0.1:{port}/robot/send"
    server.should_exit = True
    await task


class TestDingTalkContract(PluginContract):
    plugin = DingTalkRobot
    samples = {"send": [results.Message(("13800138000",), "待办提醒", "请审批")]}  # noqa: RUF012

    @pytest.fixture(autouse=True)
    def _against_the_fake(self, dingtalk: tuple[FakeDingTalk, str]) -> None:
        type(self).settings = {"access_token": TOKEN, "secret": SECRET, "endpoint": dingtalk[1]}


def test_the_entry_point_finds_the_example() -> None:
    assert catalog.installed()["dingtalk.robot"] is DingTalkRobot


async def test_send_is_signed_and_accepted(dingtalk: tuple[FakeDingTalk, str]) -> None:
    fake, endpoint = dingtalk
    robot = DingTalkRobot({"access_token": TOKEN, "secret": SECRET, "endpoint": endpoint})
    try:
        delivery = await robot.send(results.Message(("13800138000",), "待办提醒", "请审批"))
        assert (await robot.health()).ok
    finally:
        await robot.aclose()
    assert delivery.accepted == ("13800138000",)
    assert fake.received[-1]["at"]["atMobiles"] == ["13800138000"]


async def test_a_wrong_secret_is_refused_by_dingtalk(dingtalk: tuple[FakeDingTalk, str]) -> None:
    _, endpoint = dingtalk
    robot = DingTalkRobot({"access_token": TOKEN, "secret": "SECwrong", "endpoint": endpoint})
    try:
        with pytest.raises(PermanentError, match="310000"):
            await robot.send(results.Message(("13800138000",), "提醒", "x"))
        assert not (await robot.health()).ok
    finally:
        await robot.aclose()
