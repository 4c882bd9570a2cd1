"""``GET /healthz``: the state of each dependency, 503 when one is down.

:func:`collect_health` is the same report for other callers (the operator console).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import connections

from danbao.services import Services
from danbao.web.tenant_endpoint import services_of


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await check()
        ok = True
    except Exception as exc:  # a health check reports failures, it does not raise them
        detail, ok = f"{type(exc).__name__}: {exc}", False
    result = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 2)}
    if isinstance(detail, dict):
        result.update(detail)
    elif detail:
        result["detail"] = detail
    return result


async def collect_health(services: Services) -> dict[str, Any]:
    """``{"status": "ok" | "degraded", "mode": …, "checks": {name: {"ok", "ms", …}}}``."""

    async def database() -> str:
        await connections.get("default").execute_query("SELECT 1")
        return "postgresql" if services.settings.is_postgres else "sqlite"

    async def redis() -> str:
        assert services.redis is not None
        await services.redis.ping()
        return "redis"

    checks = {"database": await _timed(database)}
    if services.redis is not None:
        checks["redis"] = await _timed(redis)
    checks["jobs"] = await _timed(services.queue.health)
    checks["storage"] = await _timed(services.store.health)
    ok = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ok else "degraded", "mode": services.settings.mode, "checks": checks}


async def healthz(request: Request) -> Response:
    report = await collect_health(services_of(request))
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
