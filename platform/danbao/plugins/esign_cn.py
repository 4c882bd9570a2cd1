"""e签宝 (esign.cn) open API v3 as an e-signature plug-in.

Every request is signed the way the vendor documents it: ``Content-MD5`` is the base64
MD5 of the raw body; the string to sign is ``METHOD\\nAccept\\nContent-MD5\\nContent-Type
\\nDate\\n`` followed by the path with its query sorted by key; the signature is the base64
HMAC-SHA256 of that under the app secret, sent with the app id and a millisecond
timestamp. Callbacks carry ``X-Tsign-Open-TIMESTAMP`` and ``X-Tsign-Open-SIGNATURE``: the
hex HMAC-SHA256 of timestamp + the query values sorted by key + the raw body.

Flow: request an upload URL per document, PUT the bytes there, create the sign flow from
the files with its signers, read its status, fetch the signed files once complete.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from . import results as r
from .errors import PermanentError, TransientError
from .http import HttpPlugin, vendor_request
from .sdk import Label, PluginKind

HOSTS = {
    "sandbox": "https://smlopenapi.esign.cn",
    "production": "https://openapi.esign.cn",
}
ACCEPT = "*/*"
JSON_TYPE = "application/json; charset=UTF-8"
# e签宝's flow status codes -> the normalised status.
STATUS = {0: "DRAFT", 1: "SIGNING", 2: "DONE", 3: "REVOKED", 5: "EXPIRED", 7: "REJECTED"}
CALLBACK_MAX_AGE_MS = 15 * 60 * 1000


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 (the vendor's choice)


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return parts.path
    pairs = sorted(p.split("=", 1) if "=" in p else (p, "") for p in parts.query.split("&"))
    return parts.path + "?" + "&".join(f"{k}={v}" if v else k for k, v in pairs)


def request_signature(secret: str, method: str, url: str, md5: str, content_type: str) -> str:
    string_to_sign = "\n".join((method.upper(), ACCEPT, md5, content_type, "", path_and_query(url)))
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def callback_signature(secret: str, timestamp: str, query: Mapping[str, str], body: bytes) -> str:
    values = "".join(query[k] for k in sorted(query))
    message = timestamp.encode() + values.encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class EsignV3(HttpPlugin):
    hosts = HOSTS
    id = "esign.v3"
    kind = PluginKind.ESIGNATURE
    title = Label("e签宝（开放平台 V3）", "e签宝 (open API v3)")
    timeout_s = 15.0
    rate_per_minute = 300
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["app_id", "app_secret"],
        "properties": {
            "app_id": {"type": "string", "minLength": 4, "maxLength": 64},
            "app_secret": {"type": "string", "minLength": 8, "x-secret": True},
            "environment": {"enum": ["sandbox", "production"], "default": "sandbox"},
            "base_url": {
                "type": "string",
                "format": "uri",
                "description": "overrides the environment's host (a local test server)",
            },
        },
        "additionalProperties": False,
    }

    # --- signed HTTP -----------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        md5 = content_md5(raw) if raw else ""
        content_type = JSON_TYPE if raw else ""
        url = str(self._http.build_request(method, path).url)
        headers = {
            "Accept": ACCEPT,
            "X-Tsign-Open-App-Id": self.settings["app_id"],
            "X-Tsign-Open-Auth-Mode": "Signature",
            "X-Tsign-Open-Ca-Timestamp": str(int(time.time() * 1000)),
            "X-Tsign-Open-Ca-Signature": request_signature(
                self.settings["app_secret"], method, url, md5, content_type
            ),
        }
        if raw:
            headers |= {"Content-MD5": md5, "Content-Type": content_type}
        answer = await vendor_request(
            self._http, method, path, content=raw or None, headers=headers
        )
        try:
            reply = answer.json()
        except ValueError as exc:
            raise TransientError("e签宝 answered something other than JSON") from exc
        if reply.get("code") != 0:
            raise PermanentError(f"e签宝 {reply.get('code')}: {reply.get('message')}")
        data: dict[str, Any] = reply.get("data") or {}
        return data

    async def _upload(self, doc: r.Document) -> str:
        pdf = base64.b64decode(doc.content_b64)
        slot = await self._call(
            "POST",
            "/v3/files/file-upload-url",
            {
                "contentMd5": content_md5(pdf),
                "contentType": "application/pdf",
                "fileName": doc.name,
                "fileSize": len(pdf),
            },
        )
        put = await vendor_request(
            self._http,
            "PUT",
            slot["fileUploadUrl"],
            content=pdf,
            headers={"Content-MD5": content_md5(pdf), "Content-Type": "application/pdf"},
        )
        if put.status_code >= 300:
            raise TransientError(f"file upload answered HTTP {put.status_code}")
        return str(slot["fileId"])

    # --- operations ------------------------------------------------------------------

    async def create_flow(self, request: r.FlowRequest) -> r.SignFlow:
        files = [(await self._upload(doc), doc.name) for doc in request.documents]
        expires = datetime.now(UTC) + timedelta(days=min(request.expire_days, 90))
        body: dict[str, Any] = {
            "docs": [{"fileId": fid, "fileName": name} for fid, name in files],
            "signFlowConfig": {
                "signFlowTitle": request.title,
                "signFlowExpireTime": int(expires.timestamp() * 1000),
                "autoStart": True,
                "autoFinish": True,
            },
            "signers": [self._signer(s, files[0][0]) for s in request.signers],
        }
        if request.notify_url:
            body["signFlowConfig"]["notifyConfig"] = {"noticeDeveloperUrl": request.notify_url}
        created = await self._call("POST", "/v3/sign-flow/create-by-file", body)
        return await self.flow_status(r.FlowRef(str(created["signFlowId"])))

    @staticmethod
    def _signer(signer: r.SignerSpec, file_id: str) -> dict[str, Any]:
        field = {"fileId": file_id, "normalSignFieldConfig": {"autoSign": False}}
        if signer.kind == "organisation":
            return {
                "signerType": 1,
                "orgSignerInfo": {"orgName": signer.name, "orgInfo": {"orgIDCardNum": signer.uscc}},
                "signFields": [field],
            }
        return {
            "signerType": 0,
            "psnSignerInfo": {
                "psnAccount": signer.mobile,
                "psnInfo": {"psnName": signer.name, "psnIDCardNum": signer.id_no},
            },
            "signFields": [field],
        }

    async def flow_status(self, ref: r.FlowRef) -> r.SignFlow:
        detail = await self._call("GET", f"/v3/sign-flow/{ref.flow_id}/detail")
        status = STATUS.get(int(detail.get("signFlowStatus", -1)))
        if status is None:
            raise PermanentError(f"e签宝 flow status {detail.get('signFlowStatus')!r} is unknown")
        signers = tuple(
            r.SignerState(
                s.get("psnSigner", {}).get("psnName") or s.get("orgSigner", {}).get("orgName", ""),
                {0: "WAITING", 1: "WAITING", 2: "SIGNED", 3: "REJECTED"}.get(
                    int(s.get("signStatus", 0)), "WAITING"
                ),
            )
            for s in detail.get("signers", [])
        )
        documents: tuple[r.Document, ...] = ()
        if status == "DONE":
            documents = await self._download(ref.flow_id)
        return r.SignFlow(ref.flow_id, status, signers, documents)

    async def _download(self, flow_id: str) -> tuple[r.Document, ...]:
        listing = await self._call("GET", f"/v3/sign-flow/{flow_id}/file-download-url")
        docs = []
        for f in listing.get("files", []):
            got = await vendor_request(self._http, "GET", f["downloadUrl"])
            if got.status_code != 200:
                raise TransientError(f"download answered HTTP {got.status_code}")
            pdf = got.content
            docs.append(
                r.Document(
                    f["fileName"], base64.b64encode(pdf).decode(), hashlib.sha256(pdf).hexdigest()
                )
            )
        return tuple(docs)

    async def revoke(self, request: r.RevokeRequest) -> r.SignFlow:
        await self._call(
            "POST", f"/v3/sign-flow/{request.flow_id}/revoke", {"revokeReason": request.reason}
        )
        return await self.flow_status(r.FlowRef(request.flow_id))

    # --- callbacks -------------------------------------------------------------------

    def verify_callback(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> r.CallbackEvent:
        """The event, if e签宝 signed it with this tenant's secret recently; else PermanentError."""
        timestamp = headers.get("x-tsign-open-timestamp", "")
        given = headers.get("x-tsign-open-signature", "")
        if headers.get("x-tsign-open-signature-algorithm", "hmac-sha256").lower() != "hmac-sha256":
            raise PermanentError("unsupported callback signature algorithm")
        expected = callback_signature(self.settings["app_secret"], timestamp, query, body)
        if not (timestamp.isdigit() and hmac.compare_digest(given, expected)):
            raise PermanentError("callback signature does not match")
        if abs(time.time() * 1000 - int(timestamp)) > CALLBACK_MAX_AGE_MS:
            raise PermanentError("callback timestamp outside the 15-minute window")
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise PermanentError("callback body is not JSON") from exc
        flow_id = str(event.get("signFlowId", ""))
        action = str(event.get("action", ""))
        status = {"SIGN_FLOW_COMPLETE": "DONE", "SIGN_FLOW_REVOKE": "REVOKED"}.get(
            action, "SIGNING"
        )
        if "signFlowStatus" in event:
            status = STATUS.get(int(event["signFlowStatus"]), status)
        # The vendor retries a callback many times: the same content is the same event.
        event_id = hashlib.sha256(body).hexdigest()
        return r.CallbackEvent(event_id, flow_id, action, status)
