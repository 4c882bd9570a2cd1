"""Plain ASGI middleware: request ids with an access log, and tenant-by-host rewriting."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from danbao.logs import request_id_var
from danbao.tenancy.registry import TenantRegistry

log = logging.getLogger("danbao.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (or keep a sane incoming one), echo it, log the outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        # Shared with every copy of the scope below; endpoints note the tenant here.
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "tenant": state.get("tenant_slug"),
                },
            )
            request_id_var.reset(token)


class TenantHostMiddleware:
    """``gxdb.example.com/x`` is served as ``/t/gxdb/x`` when a base domain is configured,
    or when an operator gave the tenant its own host name."""

    def __init__(self, app: ASGIApp, registry: TenantRegistry, base_domain: str | None) -> None:
        self.app = app
        self.registry = registry
        self.suffix = f".{base_domain.lower()}" if base_domain else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(("/t/", "/healthz")):
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").split(":")[0]
            slug = await self._slug_for(host.lower())
            if slug:
                scope = dict(scope)
                scope["path"] = f"/t/{slug}{scope['path']}"
                scope["raw_path"] = scope["path"].encode()
                # The browser sees paths without /t/{slug}: cookies and links must too.
                scope.setdefault("state", {})["tenant_by_host"] = True
        await self.app(scope, receive, send)

    async def _slug_for(self, host: str) -> str | None:
        if self.suffix and host.endswith(self.suffix):
            return host[: -len(self.suffix)] or None
        if host and host not in {"127.0.0.1", "localhost", "testserver"}:
            return await self.registry.slug_for_host(host)
        return None
