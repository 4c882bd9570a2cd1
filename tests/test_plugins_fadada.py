"""The 法大大 v5 adapter against a local fake that checks each request's FASC signature
(computed here from the vendor's description, not with the adapter's code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise.transactions import in_transaction

from danbao.db.models import PluginCallback
from danbao.plugins import PermanentError, results
from danbao.plugins.contract import PluginContract
from danbao.plugins.fadada import FadadaV5
from danbao.plugins.tenant_config import configure
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, serving

APP_ID, SECRET, CORP = "80000001", "fadada-secret-xyz", "corp-open-id-1"
PDF = b"%PDF-1.7\n% guarantee contract\n%%EOF\n"


def fasc_sign(params: dict[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if v)
    text = "&".join(f"{k}={v}" for k, v in pairs)
    key = hmac.new(SECRET.encode(), params["X-FASC-Timestamp"].encode(), hashlib.sha256).digest()
    return hmac.new(
        key, hashlib.sha256(text.encode()).hexdigest().encode(), hashlib.sha256
    ).hexdigest()


class FakeFadada:
    def __init__(self) -> None:
        self.base = ""
        self.nonces: set[str] = set()
        self.tokens: set[str] = set()
        self.uploads: dict[str, bytes] = {}
        self.files: dict[str, bytes] = {}
        self.tasks: dict[str, dict[str, Any]] = {}

    def _verified(self, request: Request, biz: str | None) -> bool:
        h = request.headers
        names = [k for k in h if k.lower().startswith("x-fasc-") and k.lower() != "x-fasc-sign"]
        params = {_canonical(k): h[k] for k in names}  # as the vendor spells them
        if biz is not None:
            params["bizContent"] = biz
        if params.get("X-FASC-App-Id") != APP_ID:
            return False
        if abs(time.time() * 1000 - int(params.get("X-FASC-Timestamp", "0"))) > 300_000:
            return False
        nonce = params.get("X-FASC-Nonce", "")
        if len(nonce) != 32 or nonce in self.nonces:
            return False
        self.nonces.add(nonce)
        return hmac.compare_digest(fasc_sign(params), h.get("X-FASC-Sign", ""))

    async def api(self, request: Request) -> Response:
        form = await request.form()
        biz = form.get("bizContent")
        biz = str(biz) if biz is not None else None
        if not self._verified(request, biz):
            return JSONResponse({"code": "100003", "msg": "签名错误"})
        path = request.url.path.removeprefix("/api/v5")
        if path == "/service/get-access-token":
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return ok({"accessToken": token, "expiresIn": "7200"})
        if request.headers.get("X-FASC-AccessToken") not in self.tokens:
            return JSONResponse({"code": "210002", "msg": "token失效"})
        body = json.loads(biz or "{}")
        if path == "/file/get-upload-url":
            slot = uuid.uuid4().hex
            return ok({"uploadUrl": f"{self.base}/upload/{slot}", "fddFileUrl": f"fdd://{slot}"})
        if path == "/file/process":
            slot = body["fddFileUrlList"][0]["fddFileUrl"].removeprefix("fdd://")
            file_id = uuid.uuid4().hex
            self.files[file_id] = self.uploads[slot]
            return ok({"fileIdList": [{"fileId": file_id}]})
        if path == "/sign-task/create":
            task = uuid.uuid4().hex
            self.tasks[task] = {"status": "sign_progress", "body": body}
            return ok({"signTaskId": task})
        task = self.tasks.get(body.get("signTaskId", ""))
        if task is None:
            return JSONResponse({"code": "200001", "msg": "签署任务不存在"})
        if path == "/sign-task/app/get-detail":
            done = task["status"] == "task_finished"
            actors = [
                {
                    "actorName": a["actor"]["actorName"],
                    "signStatus": "signed" if done else "wait_sign",
                }
                for a in task["body"]["actors"]
            ]
            return ok(
                {
                    "signTaskStatus": task["status"],
                    "actors": actors,
                    "signTaskSubject": task["body"]["signTaskSubject"],
                }
            )
        if path == "/sign-task/cancel":
            task["status"] = "task_terminated"
            return ok({})
        if path == "/sign-task/owner/get-download-url":
            file_id = task["body"]["docs"][0]["docFileId"]
            return ok({"downloadUrl": f"{self.base}/download/{file_id}"})
        return JSONResponse({"code": "404", "msg": "unknown"})

    async def upload(self, request: Request) -> Response:
        self.uploads[request.path_params["slot"]] = await request.body()
        return Response(status_code=200)

    async def download(self, request: Request) -> Response:
        return Response(self.files[request.path_params["file_id"]] + b"% signed by fadada\n")


def _canonical(name: str) -> str:
    known = (
        "X-FASC-App-Id",
        "X-FASC-Sign-Type",
        "X-FASC-Timestamp",
        "X-FASC-Nonce",
        "X-FASC-AccessToken",
        "X-FASC-Api-SubVersion",
        "X-FASC-Grant-Type",
        "X-FASC-Event",
    )
    return next((k for k in known if k.lower() == name.lower()), name)


def ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"code": "100000", "msg": "请求成功", "data": data})


@pytest.fixture(scope="module")
async def fadada() -> AsyncIterator[FakeFadada]:
    fake = FakeFadada()
    app = Starlette(
        routes=[
            Route("/api/v5/{rest:path}", fake.api, methods=["POST"]),
            Route("/upload/{slot}", fake.upload, methods=["PUT"]),
            Route("/download/{file_id}", fake.download, methods=["GET"]),
        ]
    )
    async with serving(app) as url:
        fake.base = url
        yield fake


def settings(fake: FakeFadada, secret: str = SECRET) -> dict[str, str]:
    return {
        "app_id": APP_ID,
        "app_secret": secret,
        "open_corp_id": CORP,
        "base_url": f"{fake.base}/api/v5",
    }


def flow_request() -> results.FlowRequest:
    doc = results.Document(
        "反担保保证合同.pdf", base64.b64encode(PDF).decode(), hashlib.sha256(PDF).hexdigest()
    )
    return results.FlowRequest(
        "签署反担保保证合同", (doc,), (results.SignerSpec("李四", "person", mobile="13900139000"),)
    )


class TestFadadaContract(PluginContract):
    plugin = FadadaV5
    samples = {"create_flow": [flow_request()]}  # noqa: RUF012
    failing = {"flow_status": [results.FlowRef("no-such-task")]}  # noqa: RUF012

    @pytest.fixture(autouse=True)
    def _against_the_fake(self, fadada: FakeFadada) -> None:
        type(self).settings = settings(fadada)

    def test_every_operation_has_a_sample(self) -> None:
        assert set(self.plugin.operations()) == {"create_flow", "flow_status", "revoke"}


async def test_a_sign_task_round_trip_with_token_renewal(fadada: FakeFadada) -> None:
    adapter = FadadaV5(settings(fadada))
    try:
        flow = await adapter.create_flow(flow_request())
        assert flow.status == "SIGNING" and flow.signers[0].status == "WAITING"
        fadada.tasks[flow.flow_id]["status"] = "task_finished"
        fadada.tokens.clear()  # the vendor expires every token: renewed once, transparently
        done = await adapter.flow_status(results.FlowRef(flow.flow_id))
        cancelled = await adapter.revoke(
            results.RevokeRequest((await adapter.create_flow(flow_request())).flow_id, "撤回")
        )
    finally:
        await adapter.aclose()
    assert done.status == "DONE" and done.signers[0].status == "SIGNED"
    assert base64.b64decode(done.documents[0].content_b64).startswith(PDF)
    assert cancelled.status == "REVOKED"


async def test_a_wrong_secret_is_refused(fadada: FakeFadada) -> None:
    adapter = FadadaV5({**settings(fadada), "app_id": APP_ID, "app_secret": "not-the-secret"})
    try:
        with pytest.raises(PermanentError, match="100003"):
            await adapter.create_flow(flow_request())
    finally:
        await adapter.aclose()


def callback(
    event: str, biz: dict[str, Any], *, secret: str = SECRET
) -> tuple[str, dict[str, str]]:
    content = json.dumps(biz, ensure_ascii=False)
    headers = {
        "X-FASC-App-Id": APP_ID,
        "X-FASC-Sign-Type": "HMAC-SHA256",
        "X-FASC-Timestamp": str(int(time.time() * 1000)),
        "X-FASC-Nonce": uuid.uuid4().hex,
        "X-FASC-Event": event,
    }
    params = {**headers, "bizContent": content}
    pairs = sorted((k, v) for k, v in params.items() if v)
    text = "&".join(f"{k}={v}" for k, v in pairs)
    key = hmac.new(secret.encode(), headers["X-FASC-Timestamp"].encode(), hashlib.sha256).digest()
    headers["X-FASC-Sign"] = hmac.new(
        key, hashlib.sha256(text.encode()).hexdigest().encode(), hashlib.sha256
    ).hexdigest()
    return content, headers


async def test_callbacks_verify_once_and_refuse_forgeries(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    services: Services = app.state.services
    gamma = tenants["gamma"]
    with tenant_scope(gamma.context):
        async with in_transaction():
            await configure(
                services.keys,
                FadadaV5,
                settings={"app_id": APP_ID, "app_secret": SECRET, "open_corp_id": CORP},
            )
    task = uuid.uuid4().hex
    content, headers = callback("sign-task-finished", {"signTaskId": task})
    retry_content, retry_headers = callback("sign-task-finished", {"signTaskId": task})
    forged_content, forged_headers = callback(
        "sign-task-finished", {"signTaskId": task}, secret="x" * 12
    )
    url = "/t/gamma/api/callbacks/fadada.v5"
    async with make_client() as client:
        first = await client.post(url, data={"bizContent": content}, headers=headers)
        retried = await client.post(url, data={"bizContent": retry_content}, headers=retry_headers)
        forged = await client.post(url, data={"bizContent": forged_content}, headers=forged_headers)
    assert first.status_code == 200 and first.json() == {"ok": True}
    assert retried.status_code == 200 and retried.json()["duplicate"] is True
    assert forged.status_code == 401
    with tenant_scope(gamma.context):
        async with in_transaction():
            kept = await PluginCallback.filter(flow_id=task)
    assert [k.status for k in kept] == ["DONE"]
