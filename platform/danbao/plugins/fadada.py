"""法大大 (fadada) FASC OpenAPI v5 as an e-signature plug-in.

Requests are form posts whose ``bizContent`` field holds the JSON. Each carries
``X-FASC-App-Id``, ``X-FASC-Sign-Type: HMAC-SHA256``, a millisecond ``X-FASC-Timestamp``
(±5 minutes), a 32-character ``X-FASC-Nonce`` (never reused within 10 minutes), the access
token, and ``X-FASC-Sign``: the string to sign is every one of those headers and
``bizContent`` as ``k=v`` pairs sorted by key, empty values left out, joined by ``&``;
its SHA-256 hex is signed with HMAC-SHA256 under a key that is itself the HMAC-SHA256 of
the timestamp under the app secret. The access token comes from a client-credential call
and is cached until shortly before it expires. Callbacks are signed the same way over
their event headers and ``bizContent``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from . import results as r
from .errors import PermanentError, TransientError
from .http import HttpPlugin, vendor_request
from .sdk import Label, PluginKind

HOSTS = {
    "sandbox": "https://uat-api.fadada.com/api/v5",
    "production": "https://api.fadada.com/api/v5",
}
OK = "100000"
TOKEN_EXPIRED = frozenset({"210002", "210003"})
STATUS = {
    "task_created": "DRAFT",
    "fill_progress": "SIGNING",
    "sign_progress": "SIGNING",
    "task_finished": "DONE",
    "task_terminated": "REVOKED",
    "expired": "EXPIRED",
    "sign_rejected": "REJECTED",
}
CALLBACK_MAX_AGE_MS = 5 * 60 * 1000
TOKEN_MARGIN_S = 300


def sign(secret: str, params: Mapping[str, str]) -> str:
    """The FASC v5 signature over ``params`` (the X-FASC-* headers and bizContent)."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] not in ("", None))
    digest = hashlib.sha256(text.encode()).hexdigest()
    key = hmac.new(secret.encode(), params["X-FASC-Timestamp"].encode(), hashlib.sha256).digest()
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


# (app id, secret digest) -> (token, monotonic expiry)
_tokens: dict[tuple[str, str], tuple[str, float]] = {}


class FadadaV5(HttpPlugin):
    hosts = HOSTS
    id = "fadada.v5"
    kind = PluginKind.ESIGNATURE
    title = Label("法大大（FASC V5）", "fadada (FASC v5)")
    timeout_s = 15.0
    rate_per_minute = 300
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["app_id", "app_secret", "open_corp_id"],
        "properties": {
            "app_id": {"type": "string", "minLength": 4, "maxLength": 64},
            "app_secret": {"type": "string", "minLength": 8, "x-secret": True},
            "open_corp_id": {
                "type": "string",
                "minLength": 4,
                "description": "the guarantor's own corp id at fadada (the sign task's owner)",
            },
            "environment": {"enum": ["sandbox", "production"], "default": "sandbox"},
            "base_url": {"type": "string", "format": "uri"},
        },
        "additionalProperties": False,
    }

    def _headers(self, biz: str | None, token: str | None, extra: Mapping[str, str]) -> dict:
        headers = {
            "X-FASC-App-Id": self.settings["app_id"],
            "X-FASC-Sign-Type": "HMAC-SHA256",
            "X-FASC-Timestamp": str(int(time.time() * 1000)),
            "X-FASC-Nonce": secrets.token_hex(16),
            "X-FASC-Api-SubVersion": "5.1",
            **extra,
        }
        if token:
            headers["X-FASC-AccessToken"] = token
        signed = {**headers, **({"bizContent": biz} if biz is not None else {})}
        headers["X-FASC-Sign"] = sign(self.settings["app_secret"], signed)
        return headers

    async def _post(self, path: str, body: Any, token: str | None, **extra: str) -> dict:
        biz = (
            json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            if body is not None
            else None
        )
        answer = await vendor_request(
            self._http,
            "POST",
            path,
            headers=self._headers(biz, token, extra),
            data={"bizContent": biz} if biz is not None else None,
        )
        try:
            reply: dict[str, Any] = answer.json()
        except ValueError as exc:
            raise TransientError("法大大 answered something other than JSON") from exc
        return reply

    async def _token(self, *, fresh: bool = False) -> str:
        key = (
            self.settings["app_id"],
            hashlib.sha256(self.settings["app_secret"].encode()).hexdigest(),
        )
        cached = _tokens.get(key)
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        reply = await self._post(
            "/service/get-access-token", None, None, **{"X-FASC-Grant-Type": "client_credential"}
        )
        if str(reply.get("code")) != OK:
            raise PermanentError(f"法大大 token {reply.get('code')}: {reply.get('msg')}")
        data = reply["data"]
        _tokens[key] = (
            data["accessToken"],
            time.monotonic() + int(data["expiresIn"]) - TOKEN_MARGIN_S,
        )
        return str(data["accessToken"])

    async def _call(self, path: str, body: Any) -> dict[str, Any]:
        reply = await self._post(path, body, await self._token())
        if str(reply.get("code")) in TOKEN_EXPIRED:
            reply = await self._post(path, body, await self._token(fresh=True))
        if str(reply.get("code")) != OK:
            raise PermanentError(f"法大大 {reply.get('code')}: {reply.get('msg')}")
        data: dict[str, Any] = reply.get("data") or {}
        return data

    async def _upload(self, doc: r.Document) -> str:
        pdf = base64.b64decode(doc.content_b64)
        slot = await self._call("/file/get-upload-url", {"fileType": "doc", "storageType": "cloud"})
        put = await vendor_request(
            self._http,
            "PUT",
            slot["uploadUrl"],
            content=pdf,
            headers={"Content-Type": "application/pdf"},
        )
        if put.status_code >= 300:
            raise TransientError(f"file upload answered HTTP {put.status_code}")
        processed = await self._call(
            "/file/process",
            {
                "fddFileUrlList": [
                    {"fileType": "doc", "fddFileUrl": slot["fddFileUrl"], "fileName": doc.name}
                ]
            },
        )
        return str(processed["fileIdList"][0]["fileId"])

    def _owner(self) -> dict[str, str]:
        return {"idType": "corp", "openId": self.settings["open_corp_id"]}

    async def create_flow(self, request: r.FlowRequest) -> r.SignFlow:
        docs = [
            {"docId": str(i), "docName": d.name, "docFileId": await self._upload(d)}
            for i, d in enumerate(request.documents, start=1)
        ]
        expires = datetime.now(UTC) + timedelta(days=min(request.expire_days, 90))
        actors = [
            {
                "actor": {
                    "actorId": f"signer{i}",
                    "actorType": "corp" if s.kind == "organisation" else "person",
                    "actorName": s.name,
                    "permissions": ["sign"],
                    "certNoForMatch": s.uscc if s.kind == "organisation" else s.id_no,
                    "accountName": s.mobile,
                },
                "signFields": [{"fieldDocId": "1"}],
            }
            for i, s in enumerate(request.signers, start=1)
        ]
        created = await self._call(
            "/sign-task/create",
            {
                "initiator": self._owner(),
                "signTaskSubject": request.title,
                "docs": docs,
                "actors": actors,
                "autoStart": True,
                "autoFinish": True,
                "expiresTime": str(int(expires.timestamp() * 1000)),
            },
        )
        return await self.flow_status(r.FlowRef(str(created["signTaskId"])))

    async def flow_status(self, ref: r.FlowRef) -> r.SignFlow:
        detail = await self._call(
            "/sign-task/app/get-detail", {"ownerId": self._owner(), "signTaskId": ref.flow_id}
        )
        status = STATUS.get(str(detail.get("signTaskStatus")))
        if status is None:
            raise PermanentError(
                f"法大大 sign task status {detail.get('signTaskStatus')!r} is unknown"
            )
        signers = tuple(
            r.SignerState(
                a.get("actorName", ""),
                {"signed": "SIGNED", "rejected": "REJECTED"}.get(
                    a.get("signStatus", ""), "WAITING"
                ),
            )
            for a in detail.get("actors", [])
        )
        documents: tuple[r.Document, ...] = ()
        if status == "DONE":
            link = await self._call(
                "/sign-task/owner/get-download-url",
                {"ownerId": self._owner(), "signTaskId": ref.flow_id},
            )
            got = await vendor_request(self._http, "GET", link["downloadUrl"])
            if got.status_code != 200:
                raise TransientError(f"download answered HTTP {got.status_code}")
            pdf = got.content
            name = detail.get("signTaskSubject", ref.flow_id) + ".pdf"
            documents = (
                r.Document(name, base64.b64encode(pdf).decode(), hashlib.sha256(pdf).hexdigest()),
            )
        return r.SignFlow(ref.flow_id, status, signers, documents)

    async def revoke(self, request: r.RevokeRequest) -> r.SignFlow:
        await self._call(
            "/sign-task/cancel", {"signTaskId": request.flow_id, "terminationNote": request.reason}
        )
        return await self.flow_status(r.FlowRef(request.flow_id))

    def verify_callback(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> r.CallbackEvent:
        """The event, if 法大大 signed it with this tenant's secret within 5 minutes."""
        names = (
            "X-FASC-App-Id",
            "X-FASC-Sign-Type",
            "X-FASC-Timestamp",
            "X-FASC-Nonce",
            "X-FASC-Event",
        )
        signed = {name: headers.get(name.lower(), headers.get(name, "")) for name in names}
        try:
            form = dict(httpx.QueryParams(body.decode()))
        except UnicodeDecodeError as exc:
            raise PermanentError("callback body is not text") from exc
        biz = form.get("bizContent", "")
        given = headers.get("x-fasc-sign", headers.get("X-FASC-Sign", ""))
        timestamp = signed["X-FASC-Timestamp"]
        if signed["X-FASC-App-Id"] != self.settings["app_id"] or not timestamp.isdigit():
            raise PermanentError("callback is not for this app")
        if not hmac.compare_digest(
            given, sign(self.settings["app_secret"], {**signed, "bizContent": biz})
        ):
            raise PermanentError("callback signature does not match")
        if abs(time.time() * 1000 - int(timestamp)) > CALLBACK_MAX_AGE_MS:
            raise PermanentError("callback timestamp outside the 5-minute window")
        try:
            event = json.loads(biz)
        except ValueError as exc:
            raise PermanentError("bizContent is not JSON") from exc
        action = signed["X-FASC-Event"]
        status = {"sign-task-finished": "DONE", "sign-task-canceled": "REVOKED"}.get(
            action, "SIGNING"
        )
        # A retried callback gets a new nonce and time but says the same: same event.
        return r.CallbackEvent(
            hashlib.sha256(f"{action}|{biz}".encode()).hexdigest(),
            str(event.get("signTaskId", "")),
            action,
            status,
        )
