"""Keep secrets and sensitive values out of the audit trail and the logs."""

from __future__ import annotations

from typing import Any

REDACTED = "[redacted]"

# Key fragments that always mark a secret, whatever the definition says.
_SECRET_MARKERS = ("password", "secret", "token", "api_key", "apikey", "private_key", "csrf")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def redact(value: Any, sensitive_keys: frozenset[str] = frozenset()) -> Any:
    """A copy of ``value`` with secret or sensitive keys replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: REDACTED
            if is_secret_key(str(k)) or k in sensitive_keys
            else redact(v, sensitive_keys)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, sensitive_keys) for v in value]
    return value
