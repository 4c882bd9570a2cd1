"""What can go wrong on a plug-in call, split by what the call path does about it."""

from __future__ import annotations

from typing import Any


class PluginError(Exception):
    """Base of every plug-in failure the call path understands."""

    code = "plugin_error"
    # The call path's audit event for this failure (set by the gateway).
    audit_data: dict[str, Any] | None = None


class TransientError(PluginError):
    """Worth another try: a timeout, a refused connection, a vendor 5xx or rate limit.

    ``delivered=False`` promises the vendor never received the request, which makes even
    a non-idempotent operation (sending a message) safe to retry.
    """

    code = "transient"

    def __init__(self, message: str, *, delivered: bool = True) -> None:
        super().__init__(message)
        self.delivered = delivered


class PermanentError(PluginError):
    """The vendor answered and said no (bad request, unknown subject): never retried."""

    code = "permanent"


class SettingsInvalid(PluginError):
    """Tenant settings that fail the plug-in's schema; ``errors`` are (pointer, message)."""

    code = "settings_invalid"

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p or '/'}: {m}" for p, m in errors))
        self.errors = errors


class NotEnabled(PluginError):
    code = "not_enabled"


class UnknownPlugin(PluginError):
    code = "unknown_plugin"


class UnknownOperation(PluginError):
    code = "unknown_operation"


class ConsentRequired(PluginError):
    """A personal-data query with no written consent of the subject on file."""

    code = "consent_required"


class RateLimited(PluginError):
    """The tenant's call budget for this plug-in is spent; nothing was sent."""

    code = "rate_limited"


class CircuitOpen(PluginError):
    """Recent calls kept failing; calls are refused fast until the vendor recovers."""

    code = "circuit_open"


class PluginFailed(PluginError):
    """The plug-in raised something it should not have (a bug): isolated, never retried."""

    code = "plugin_failed"
