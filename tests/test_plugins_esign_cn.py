"""The e签宝 v3 adapter against a local fake that checks every signature as e签宝 documents it,
and its callbacks through the per-tenant URL: verified, applied once, refused when forged.

The fake computes signatures with its own code, written from the vendor's documentation,
never with the adapter's helpers: a mistake in the adapter cannot verify itself.
"""

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

from danbao.db.models import AuditEvent, PluginCallback
from danbao.plugins import PermanentError, results
from danbao.plugins.contract import PluginContract
from danbao.plugins.esign_cn import EsignV3
from danbao.plugins.tenant_config import configure
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, serving

APP_ID = "7438xxxxTEST"
SECRET = "fake-esign-secret-0123"
PDF = b"%PDF-1.7\n% a contract\n%%EOF\n"


class FakeEsign:
    def __init__(self) -> None:
        self.base = ""
        self.files: dict[str, bytes] = {}
        self.flows: dict[str, dict[str, Any]] = {}
        self.rejected = 0

    def _signed_ok(self, request: Request, body: bytes) -> bool:
        h = request.headers
        if h.get("X-Tsign-Open-App-Id") != APP_ID or h.get("X-Tsign-Open-Auth-Mode") != "Signature":
            return False
        if abs(time.time() * 1000 - int(h.get("X-Tsign-Open-Ca-Timestamp", "0"))) > 15 * 60_000:
            return False
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode() if body else ""  # noqa: S324
        if h.get("Content-MD5", "") != md5:
            return False
        query = "&".join(sorted(request.url.query.split("&"))) if request.url.query else ""
        path = request.url.path + (f"?{query}" if query else "")
        lines = [request.method, h.get("Accept", ""), md5, h.get("Content-Type", ""), "", path]
        digest = hmac.new(SECRET.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
        return hmac.compare_digest(
            base64.b64encode(digest).decode(), h.get("X-Tsign-Open-Ca-Signature", "")
        )

    async def api(self, request: Request) -> Response:
        body = await request.body()
        if not self._signed_ok(request, body):
            self.rejected += 1
            return JSONResponse({"code": 401, "message": "签名校验失败"}, status_code=401)
        path = request.url.path
        payload = json.loads(body) if body else {}
        if path == "/v3/files/file-upload-url":
            file_id = uuid.uuid4().hex
            return ok({"fileId": file_id, "fileUploadUrl": f"{self.base}/upload/{file_id}"})
        if path == "/v3/sign-flow/create-by-file":
            if any(d["fileId"] not in self.files for d in payload["docs"]):
                return ok_error(1435002, "文件未上传")
            flow_id = uuid.uuid4().hex
            self.flows[flow_id] = {"status": 1, "payload": payload}
            return ok({"signFlowId": flow_id})
        flow_id = path.split("/")[3]
        flow = self.flows.get(flow_id)
        if flow is None:
            return ok_error(1437100, "流程不存在")
        if path.endswith("/detail"):
            signers = [
                {"orgSigner": {"orgName": s["orgSignerInfo"]["orgName"]}}
                if s["signerType"] == 1
                else {"psnSigner": {"psnName": s["psnSignerInfo"]["psnInfo"]["psnName"]}}
                for s in flow["payload"]["signers"]
            ]
            for s in signers:
                s["signStatus"] = 2 if flow["status"] == 2 else 1
            return ok({"signFlowStatus": flow["status"], "signers": signers})
        if path.endswith("/revoke"):
            flow["status"] = 3
            return ok({})
        if path.endswith("/file-download-url"):
            if flow["status"] != 2:
                return ok_error(1437500, "流程未完成")
            docs = flow["payload"]["docs"]
            return ok(
                {
                    "files": [
                        {
                            "fileId": d["fileId"],
                            "fileName": d["fileName"],
                            "downloadUrl": f"{self.base}/download/{d['fileId']}",
                        }
                        for d in docs
                    ]
                }
            )
        return ok_error(404, "unknown")

    async def upload(self, request: Request) -> Response:
        body = await request.body()
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
        if request.headers.get("Content-MD5") != md5:
            return Response(status_code=400)
        self.files[request.path_params["file_id"]] = body
        return Response(status_code=200)

    async def download(self, request: Request) -> Response:
        return Response(self.files[request.path_params["file_id"]] + b"% signed\n")

    def complete(self, flow_id: str) -> None:
        self.flows[flow_id]["status"] = 2


def ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"code": 0, "message": "成功", "data": data})


def ok_error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message})


@pytest.fixture(scope="module")
async def esign() -> AsyncIterator[FakeEsign]:
    fake = FakeEsign()
    app = Starlette(
        routes=[
            Route("/v3/{rest:path}", fake.api, methods=["GET", "POST"]),
            Route("/upload/{file_id}", fake.upload, methods=["PUT"]),
            Route("/download/{file_id}", fake.download, methods=["GET"]),
        ]
    )
    async with serving(app) as url:
        fake.base = url
        yield fake


def settings(fake: FakeEsign, secret: str = SECRET) -> dict[str, str]:
    return {"app_id": APP_ID, "app_secret": secret, "base_url": fake.base}


def flow_request() -> results.FlowRequest:
    doc = results.Document(
        "委托保证合同.pdf", base64.b64encode(PDF).decode(), hashlib.sha256(PDF).hexdigest()
    )
    return results.FlowRequest(
        "签署委托保证合同",
        (doc,),
        (
            results.SignerSpec("成都示例机械有限公司", "organisation", uscc="91510100MA61R8KX2L"),
            results.SignerSpec("张三", "person", mobile="13800138000", id_no="11010519491231002X"),
        ),
    )


class TestEsignV3Contract(PluginContract):
    plugin = EsignV3
    samples = {"create_flow": [flow_request()]}  # noqa: RUF012
    failing = {"flow_status": [results.FlowRef("no-such-flow")]}  # noqa: RUF012

    @pytest.fixture(autouse=True)
    def _against_the_fake(self, esign: FakeEsign) -> None:
        type(self).settings = settings(esign)

    def test_every_operation_has_a_sample(self) -> None:
        # flow_status and revoke need a flow created first: see the round trip below.
        assert set(self.plugin.operations()) == {"create_flow", "flow_status", "revoke"}


async def test_a_flow_goes_from_signing_to_done_with_the_signed_files(esign: FakeEsign) -> None:
    adapter = EsignV3(settings(esign))
    try:
        flow = await adapter.create_flow(flow_request())
        assert flow.status == "SIGNING" and not flow.documents
        assert [s.name for s in flow.signers] == ["成都示例机械有限公司", "张三"]
        esign.complete(flow.flow_id)
        done = await adapter.flow_status(results.FlowRef(flow.flow_id))
        other = await adapter.create_flow(flow_request())
        revoked = await adapter.revoke(results.RevokeRequest(other.flow_id, "客户撤回申请"))
    finally:
        await adapter.aclose()
    assert done.status == "DONE" and {s.status for s in done.signers} == {"SIGNED"}
    signed = base64.b64decode(done.documents[0].content_b64)
    assert signed.startswith(PDF) and done.documents[0].sha256 == hashlib.sha256(signed).hexdigest()
    assert revoked.status == "REVOKED"


async def test_a_wrong_secret_is_refused_by_the_vendor(esign: FakeEsign) -> None:
    before = esign.rejected
    adapter = EsignV3(settings(esign, "not-the-secret-at-all"))
    try:
        with pytest.raises(PermanentError, match="401"):
            await adapter.create_flow(flow_request())
    finally:
        await adapter.aclose()
    assert esign.rejected == before + 1


# --- callbacks through the tenant's URL --------------------------------------------------


def signed_callback(
    body: dict[str, Any], secret: str = SECRET, *, age_ms: int = 0
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    timestamp = str(int(time.time() * 1000) - age_ms)
    query_values = "ab"  # the query below, values sorted by key: a=a, b=b
    signature = hmac.new(
        secret.encode(), timestamp.encode() + query_values.encode() + raw, hashlib.sha256
    ).hexdigest()
    return raw, {
        "X-Tsign-Open-TIMESTAMP": timestamp,
        "X-Tsign-Open-SIGNATURE": signature,
        "X-Tsign-Open-SIGNATURE-ALGORITHM": "hmac-sha256",
        "Content-Type": "application/json",
    }


async def _enable(
    services: Services, tenant: TenantFixture, secret: str, *, enabled: bool = True
) -> None:
    with tenant_scope(tenant.context):
        async with in_transaction():
            await configure(
                services.keys,
                EsignV3,
                settings={"app_id": APP_ID, "app_secret": secret},
                enabled=enabled,
            )


async def test_callbacks_are_verified_applied_once_and_refused_when_forged(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    services: Services = app.state.services
    alpha, beta = tenants["alpha"], tenants["beta"]
    await _enable(services, alpha, SECRET)
    await _enable(services, beta, "beta-has-its-own-secret")
    await _enable(services, tenants["gamma"], SECRET, enabled=False)
    flow_id = uuid.uuid4().hex
    raw, headers = signed_callback(
        {"action": "SIGN_FLOW_COMPLETE", "signFlowId": flow_id, "signFlowStatus": 2}
    )
    url = "/t/{slug}/api/callbacks/esign.v3?b=b&a=a"
    async with make_client() as client:
        first = await client.post(url.format(slug="alpha"), content=raw, headers=headers)
        replay = await client.post(url.format(slug="alpha"), content=raw, headers=headers)
        forged = await client.post(
            url.format(slug="alpha"), content=raw.replace(b"2}", b"3}"), headers=headers
        )
        stale_raw, stale_headers = signed_callback({"signFlowId": flow_id}, age_ms=16 * 60_000)
        stale = await client.post(
            url.format(slug="alpha"), content=stale_raw, headers=stale_headers
        )
        # Alpha's signed callback sent to beta's URL: beta's secret does not verify it.
        crossed = await client.post(url.format(slug="beta"), content=raw, headers=headers)
        gamma = await client.post(url.format(slug="gamma"), content=raw, headers=headers)
    assert first.status_code == 200 and first.json() == {"ok": True}
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert forged.status_code == 401 and stale.status_code == 401
    assert crossed.status_code == 401
    assert gamma.status_code == 404  # gamma switched the plug-in off
    with tenant_scope(alpha.context):
        async with in_transaction():
            kept = await PluginCallback.filter(flow_id=flow_id)
            rejected = await AuditEvent.filter(action="plugin.callback_rejected").count()
            applied = await AuditEvent.filter(action="plugin.callback").order_by("-seq").first()
    assert len(kept) == 1 and kept[0].status == "DONE"
    assert rejected >= 2
    assert applied is not None and applied.data["flow_id"] == flow_id
    with tenant_scope(beta.context):
        async with in_transaction():
            assert not await PluginCallback.filter(flow_id=flow_id).exists()
