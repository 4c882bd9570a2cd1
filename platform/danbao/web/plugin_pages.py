"""``/t/{slug}/admin/plugins``: enable, configure and test plug-ins in the browser.

A settings form is generated from the plug-in's own settings schema (text, numbers,
choices, switches); secrets are password fields that are never filled in — left empty,
the stored secret stays. Saving goes through the same ``tenant_config.configure`` as the
API (validated, all or nothing, audited); errors are shown beside their field.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from danbao.audit import record_event
from danbao.db.models import PluginSetting
from danbao.plugins import catalog, tenant_config
from danbao.plugins.errors import PluginError, SettingsInvalid
from danbao.plugins.sdk import Plugin
from danbao.web.admin_pages import _admin, _base, _csrf
from danbao.web.plugins_api import HEALTH_TIMEOUT_S, announced, plugin_from_path
from danbao.web.templates import render
from danbao.web.tenant_endpoint import caller_of, services_of, tenant_endpoint

POLICY_FIELDS = ("timeout_s", "max_attempts", "rate_per_minute", "reuse_days")


def _fields(plugin: type[Plugin]) -> list[dict[str, Any]]:
    """The settings form's fields, from the plug-in's schema."""
    schema = plugin.settings_schema
    required = set(schema.get("required", []))
    fields = []
    for name, spec in schema.get("properties", {}).items():
        kind = spec.get("type", "string")
        widget = (
            "secret"
            if spec.get("x-secret")
            else "choice"
            if "enum" in spec
            else "switch"
            if kind == "boolean"
            else "number"
            if kind in ("integer", "number")
            else "textarea"
            if name.endswith("_pem")
            else "text"
        )
        fields.append(
            {
                "name": name,
                "widget": widget,
                "required": name in required,
                "choices": spec.get("enum", []),
                "title": spec.get("title", name),
                "help": spec.get("description", ""),
            }
        )
    return fields


def _parse(plugin: type[Plugin], form: FormData) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings and policy from the submitted form, typed by the schema."""
    settings: dict[str, Any] = {}
    for field in _fields(plugin):
        name, raw = field["name"], str(form.get(f"s|{field['name']}", "")).strip()
        if field["widget"] == "switch":
            settings[name] = form.get(f"s|{name}") == "on"
        elif raw == "":
            if field["widget"] == "secret":
                settings[name] = ""  # keep the stored secret
        elif field["widget"] == "number":
            try:
                settings[name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
            except ValueError:
                settings[name] = raw  # the schema check reports it beside the field
        else:
            settings[name] = raw
    policy: dict[str, Any] = {}
    for name in POLICY_FIELDS:
        raw = str(form.get(f"p|{name}", "")).strip()
        if raw:
            try:
                policy[name] = float(raw) if name == "timeout_s" else int(raw)
            except ValueError:
                policy[name] = raw
    return settings, policy


async def _page(
    request: Request,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    rows = {row.plugin_id: row for row in await PluginSetting.filter()}
    plugins = [
        {
            "id": pid,
            "view": tenant_config.public_view(cls, rows.get(pid)),
            "fields": _fields(cls),
            "defaults": {
                "timeout_s": cls.timeout_s,
                "max_attempts": cls.max_attempts,
                "rate_per_minute": cls.rate_per_minute,
            },
        }
        for pid, cls in catalog.installed().items()
    ]
    return render(
        request,
        "admin/plugins.html",
        {
            "tenant": caller_of(request).tenant,
            "base": _base(request),
            "csrf": _csrf(request),
            "plugins": plugins,
            "policy_fields": POLICY_FIELDS,
            "errors": errors or {},
            "notice": notice or request.query_params.get("notice"),
        },
        status_code=status_code,
    )


@tenant_endpoint()
async def plugins_page(request: Request) -> Response:
    await _admin(request, "admin:plugins", "read")
    return await _page(request)


@tenant_endpoint()
async def plugin_save(request: Request) -> Response:
    await _admin(request, "admin:plugins", "update")
    plugin = plugin_from_path(request)
    form = await request.form()
    settings, policy = _parse(plugin, form)
    try:
        await tenant_config.configure(
            services_of(request).keys,
            plugin,
            settings=settings,
            policy=policy,
            enabled=form.get("enabled") == "on",
        )
    except SettingsInvalid as invalid:
        by_field = {
            pointer.rsplit("/", 1)[-1] or "-": message for pointer, message in invalid.errors
        }
        return await _page(request, errors={plugin.id: by_field}, status_code=422)
    return RedirectResponse(
        f"{_base(request)}/admin/plugins?notice=saved:{plugin.id}",
        303,
        background=announced(request),
    )


@tenant_endpoint()
async def plugin_test(request: Request) -> Response:
    await _admin(request, "admin:plugins", "update")
    plugin = plugin_from_path(request)
    try:
        config = await tenant_config.load(services_of(request).keys, plugin)
    except PluginError as failure:
        return await _page(request, notice=f"failed:{plugin.id}:{failure}", status_code=409)
    instance = plugin(config.settings)
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            health = await instance.health()
        ok, detail = health.ok, health.detail
    except Exception as exc:  # reported on the page, never raised
        ok, detail = False, type(exc).__name__
    finally:
        await instance.aclose()
    await record_event("plugin.tested", "plugin", plugin.id, {"ok": ok, "detail": detail})
    return await _page(request, notice=f"{'ok' if ok else 'failed'}:{plugin.id}:{detail}")


ROUTES = [
    Route("/admin/plugins", plugins_page, methods=["GET"]),
    Route("/admin/plugins/{plugin_id}", plugin_save, methods=["POST"]),
    Route("/admin/plugins/{plugin_id}/test", plugin_test, methods=["POST"]),
]
