"""``/t/{slug}/api/plugins``: a tenant administrator enables, configures and tests plug-ins.

Stored secrets are never sent back (``{"set": true}`` in their place). A plug-in failure
is translated here into one HTTP answer per kind of failure; the call path's audit event
is written again after the request rolls back, so refusals stay on record.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.db.models import PluginSetting
from danbao.plugins import catalog, tenant_config
from danbao.plugins.errors import (
    CircuitOpen,
    ConsentRequired,
    NotEnabled,
    PermanentError,
    PluginError,
    RateLimited,
    SettingsInvalid,
    UnknownOperation,
    UnknownPlugin,
)
from danbao.plugins.sdk import Plugin
from danbao.tenancy.context import current_tenant
from danbao.web.errors import AuditNote, HttpError
from danbao.web.guards import read_json, require
from danbao.web.tenant_endpoint import services_of, tenant_endpoint

HEALTH_TIMEOUT_S = 10.0

# Failure -> (HTTP status, error code). Order matters: first match wins.
_STATUS: tuple[tuple[type[PluginError], int, str], ...] = (
    (UnknownPlugin, 404, "not_found"),
    (UnknownOperation, 404, "not_found"),
    (SettingsInvalid, 422, "invalid"),
    (NotEnabled, 409, "plugin_not_enabled"),
    (ConsentRequired, 422, "consent_required"),
    (RateLimited, 429, "plugin_rate_limited"),
    (CircuitOpen, 503, "plugin_unavailable"),
    (PermanentError, 422, "plugin_refused"),
)


def plugin_http_error(failure: PluginError, plugin_id: str = "-") -> HttpError:
    """The HTTP refusal for a plug-in failure, carrying its audit event past the rollback."""
    status, code = next(
        ((s, c) for kind, s, c in _STATUS if isinstance(failure, kind)), (502, "plugin_failed")
    )
    audit_data = getattr(failure, "audit_data", None)
    note = AuditNote("plugin.called", "plugin", plugin_id, audit_data) if audit_data else None
    details = (
        [{"pointer": p, "message": m} for p, m in failure.errors]
        if isinstance(failure, SettingsInvalid)
        else None
    )
    return HttpError(status, code, params={"detail": str(failure)}, details=details, audit=note)


def plugin_from_path(request: Request) -> type[Plugin]:
    """The installed plug-in named by ``{plugin_id}``; 404 for any other."""
    try:
        return catalog.get(request.path_params["plugin_id"])
    except UnknownPlugin as exc:
        raise HttpError(404, "not_found") from exc


@tenant_endpoint()
async def plugins_index(request: Request) -> Response:
    """
    summary: Installed plug-ins and how this tenant configured each (secrets never shown)
    tags: [plugins]
    responses:
      200: {description: "{items: [{plugin, kind, title, sandbox, enabled, settings, ...}]}"}
      403: {description: Needs admin:plugins read}
    """
    await require(request, "admin:plugins", "read")
    rows = {row.plugin_id: row for row in await PluginSetting.filter()}
    items = [
        tenant_config.public_view(cls, rows.get(pid)) for pid, cls in catalog.installed().items()
    ]
    return JSONResponse({"items": items})


@tenant_endpoint()
async def plugin_configure(request: Request) -> Response:
    """
    summary: Enable and configure a plug-in (an empty secret keeps the stored one)
    tags: [plugins]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              enabled: {type: boolean}
              settings: {type: object}
              policy:
                type: object
                properties:
                  timeout_s: {type: number}
                  max_attempts: {type: integer}
                  rate_per_minute: {type: integer}
                  reuse_days: {type: integer}
    responses:
      200: {description: The tenant's view of the plug-in}
      404: {description: No such plug-in}
      422: {description: "details: [{pointer, message}] (/settings/..., /policy/...)"}
    """
    await require(request, "admin:plugins", "update")
    plugin = plugin_from_path(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", params={"detail": "expected a JSON object"})
    settings, policy = body.get("settings", {}), body.get("policy", {})
    if not isinstance(settings, dict) or not isinstance(policy, dict):
        raise HttpError(400, "bad_request", params={"detail": "settings and policy are objects"})
    try:
        row = await tenant_config.configure(
            services_of(request).keys,
            plugin,
            settings=settings,
            policy=policy,
            enabled=bool(body.get("enabled", True)),
        )
    except PluginError as failure:
        raise plugin_http_error(failure, plugin.id) from failure
    return JSONResponse(tenant_config.public_view(plugin, row), background=announced(request))


def announced(request: Request) -> BackgroundTask:
    """The tenant announced as changed after the response, so after the request's
    transaction committed: every process (this one too) drops the plug-in settings it
    opened before (plugins/settings_cache.py)."""
    tenant_id = str(current_tenant().tenant_id)
    return BackgroundTask(services_of(request).propagation.publish, tenant_id, 0)


@tenant_endpoint()
async def plugin_health(request: Request) -> Response:
    """
    summary: Test the connection with this tenant's settings
    tags: [plugins]
    responses:
      200: {description: "{ok, detail, latency_ms}: a failed check is an answer, not an error"}
      404: {description: No such plug-in}
      409: {description: Not enabled for this tenant}
    """
    await require(request, "admin:plugins", "update")
    plugin = plugin_from_path(request)
    try:
        config = await tenant_config.load(services_of(request).keys, plugin)
    except PluginError as failure:
        raise plugin_http_error(failure, plugin.id) from failure
    instance = plugin(config.settings)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            health = await instance.health()
        ok, detail = health.ok, health.detail
    except TimeoutError:
        ok, detail = False, f"no answer within {HEALTH_TIMEOUT_S:g} s"
    except Exception as exc:  # a plug-in's bug is reported, never raised to the caller
        ok, detail = False, f"the check raised {type(exc).__name__}"
    finally:
        await instance.aclose()
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    await record_event("plugin.tested", "plugin", plugin.id, {"ok": ok, "detail": detail})
    result: dict[str, Any] = {"ok": ok, "detail": detail, "latency_ms": latency_ms}
    return JSONResponse(result)


ROUTES = [
    Route("/plugins", plugins_index, methods=["GET"]),
    Route("/plugins/{plugin_id}", plugin_configure, methods=["PUT"]),
    Route("/plugins/{plugin_id}/health", plugin_health, methods=["POST"]),
]
