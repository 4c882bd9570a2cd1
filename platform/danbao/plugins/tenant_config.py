"""A tenant's plug-in settings: validated, secrets sealed, never shown again.

Secret settings (``"x-secret": true`` in the plug-in's schema) are sealed with the
tenant's data key, bound to the plug-in and setting name, so an envelope copied to
another plug-in or tenant does not open. An update that leaves a secret empty keeps
the stored one: an administrator can change the timeout without retyping the key.

Loaded settings are kept per process (``settings_cache.py``): ``configure`` forgets the
plug-in's entry here, and the routes that call it announce the tenant once committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from danbao.audit import record_event
from danbao.crypto.fields import FieldPath, decrypt_value, encrypt_value, envelope_version
from danbao.crypto.tenant_keys import DATA, TenantKeys
from danbao.db.models import PluginSetting
from danbao.tenancy.context import current_tenant

from .errors import NotEnabled, SettingsInvalid
from .sdk import Plugin
from .settings_cache import SettingsCache

SECRET_SHOWN_AS = {"set": True}

POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "timeout_s": {"type": "number", "minimum": 0.1, "maximum": 60},
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5},
        "rate_per_minute": {"type": "integer", "minimum": 1, "maximum": 6000},
        "reuse_days": {"type": "integer", "minimum": 0, "maximum": 90},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class CallPolicy:
    """How the call path treats one tenant's calls to one plug-in."""

    timeout_s: float
    max_attempts: int
    rate_per_minute: int
    reuse_days: int

    @classmethod
    def of(cls, plugin: type[Plugin], chosen: Mapping[str, Any]) -> CallPolicy:
        # A tenant may tighten the plug-in's limits, never loosen them.
        return cls(
            timeout_s=min(float(chosen.get("timeout_s", plugin.timeout_s)), plugin.timeout_s),
            max_attempts=min(int(chosen.get("max_attempts", plugin.max_attempts)), 5),
            rate_per_minute=min(
                int(chosen.get("rate_per_minute", plugin.rate_per_minute)), plugin.rate_per_minute
            ),
            reuse_days=int(chosen.get("reuse_days", 0)),
        )


@dataclass(frozen=True)
class LoadedConfig:
    row: PluginSetting
    # Secrets in clear: hand to the plug-in, never log or show (nor in this object's repr).
    settings: dict[str, Any] = field(repr=False)
    policy: CallPolicy


# This process's opened settings; services.py adds it to the caches a tenant change drops.
CACHE: SettingsCache[LoadedConfig] = SettingsCache()


def _path(plugin_id: str, name: str) -> FieldPath:
    return FieldPath(f"plugin:{plugin_id}", f"settings.{name}")


def schema_errors(schema: Mapping[str, Any], value: Any, prefix: str = "") -> list[tuple[str, str]]:
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: e.json_path)
    return [(prefix + "".join(f"/{p}" for p in e.absolute_path), e.message) for e in errors]


async def _open(keys: TenantKeys, plugin: type[Plugin], stored: Mapping[str, Any]) -> dict:
    tenant_id = str(current_tenant().tenant_id)
    clear = dict(stored)
    for name in plugin.secret_fields() & stored.keys():
        key = await keys.get(DATA, envelope_version(stored[name]))
        clear[name] = decrypt_value(key, tenant_id, _path(plugin.id, name), stored[name])
    return clear


async def configure(
    keys: TenantKeys,
    plugin: type[Plugin],
    *,
    settings: Mapping[str, Any],
    policy: Mapping[str, Any] | None = None,
    enabled: bool = True,
) -> PluginSetting:
    """Enable/configure a plug-in for the tenant in context; all-or-nothing, audited."""
    plugin_id = plugin.id
    CACHE.forget(str(current_tenant().tenant_id), plugin_id)
    row = await PluginSetting.filter(plugin_id=plugin_id).first()
    previous = await _open(keys, plugin, row.settings) if row else {}
    secrets = plugin.secret_fields()
    merged = {k: v for k, v in settings.items() if not (k in secrets and v in ("", None))}
    for name in secrets - merged.keys():
        if name in previous:
            merged[name] = previous[name]
    errors = schema_errors(plugin.settings_schema, merged, "/settings")
    errors += schema_errors(POLICY_SCHEMA, dict(policy or {}), "/policy")
    if errors:
        raise SettingsInvalid(errors)

    data_key = await keys.current(DATA)
    tenant_id = str(current_tenant().tenant_id)
    sealed: dict[str, Any] = {}
    for k, v in merged.items():
        if k not in secrets:
            sealed[k] = v
        elif row is not None and v == previous.get(k):
            sealed[k] = row.settings[k]  # unchanged: keep the stored envelope as it is
        else:
            sealed[k] = encrypt_value(data_key, tenant_id, _path(plugin_id, k), str(v))
    changed = sorted(k for k in merged.keys() | previous.keys() if merged.get(k) != previous.get(k))
    actor = current_tenant().principal.id
    if row is None:
        row = await PluginSetting.create(
            plugin_id=plugin_id,
            enabled=enabled,
            settings=sealed,
            policy=dict(policy or {}),
            updated_by=actor,
        )
    else:
        row.settings, row.policy, row.enabled, row.updated_by = (
            sealed,
            dict(policy or {}),
            enabled,
            actor,
        )
        await row.save()
    # Names of changed settings only: a secret's value never reaches the audit trail.
    await record_event(
        "plugin.configured",
        "plugin",
        plugin_id,
        {"enabled": enabled, "changed": changed, "policy": dict(policy or {})},
    )
    return row


def cached(plugin: type[Plugin]) -> LoadedConfig | None:
    """The tenant's settings of ``plugin`` if this process holds them (no I/O)."""
    return CACHE.get(str(current_tenant().tenant_id), plugin.id)


async def load(keys: TenantKeys, plugin: type[Plugin]) -> LoadedConfig:
    """The tenant's settings of ``plugin``, opened; inside the caller's transaction when not
    cached. NotEnabled if the tenant has not enabled it."""
    tenant_id = str(current_tenant().tenant_id)
    found = CACHE.get(tenant_id, plugin.id)
    if found is not None:
        return found
    generation = CACHE.generation
    row = await PluginSetting.filter(plugin_id=plugin.id).first()
    if row is None or not row.enabled:
        raise NotEnabled(f"plug-in {plugin.id} is not enabled for this tenant")
    settings = await _open(keys, plugin, row.settings)
    config = LoadedConfig(row, settings, CallPolicy.of(plugin, row.policy))
    CACHE.put(tenant_id, plugin.id, config, generation)
    return config


def public_view(plugin: type[Plugin], row: PluginSetting | None) -> dict[str, Any]:
    """What an administrator sees: settings with every secret replaced by ``{"set": true}``."""
    stored = row.settings if row else {}
    return {
        "plugin": plugin.id,
        "kind": str(plugin.kind),
        "title": plugin.title.as_dict(),
        "sandbox": plugin.sandbox,
        "enabled": bool(row and row.enabled),
        "settings": {
            k: SECRET_SHOWN_AS if k in plugin.secret_fields() else v for k, v in stored.items()
        },
        "policy": row.policy if row else {},
        "settings_schema": plugin.settings_schema,
    }
