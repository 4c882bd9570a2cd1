"""What a plug-in is: its kind, its operations, its settings, its health check.

A plug-in is a class deriving from :class:`Plugin`, published by its package under the
entry-point group ``danbao.plugins``. Danbao constructs it per tenant with that tenant's
validated settings and calls its operations only through the call path
(:mod:`danbao.plugins.gateway`), which adds timeouts, retries, the circuit breaker, rate
limits, result reuse, consent checks and the audit event. A plug-in itself just talks
to its vendor and maps the answer onto the normalised result types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from . import results as r


class PluginKind(StrEnum):
    CREDIT_BUREAU = "credit_bureau"
    BUSINESS_REGISTRY = "business_registry"
    JUDICIAL = "judicial"
    ESIGNATURE = "esignature"
    MESSAGING = "messaging"
    TIMESTAMPING = "timestamping"


class Recipient(StrEnum):
    """How a messaging channel names a person (``Message.recipients``): Danbao looks the
    identifier up on the user it notifies; a user without one is not sent to."""

    EMAIL = "email"
    WECOM_USERID = "wecom_userid"  # WeCom (企业微信) user id, e.g. ``LiXiaoMei``
    MOBILE = "mobile"  # an 11-digit mainland mobile number (robots @-mention by it)


@dataclass(frozen=True)
class Label:
    """A name in Chinese (shown first) and English."""

    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"zh-CN": self.zh, "en": self.en}


@dataclass(frozen=True)
class Operation:
    """One thing a kind of plug-in does, and how the call path must treat it."""

    name: str
    request: type
    result: type
    # Results may be reused within the tenant's window instead of a new (paid) query.
    reusable: bool = False
    # A query about a person or company needs the subject's written consent on file.
    needs_consent: bool = False
    # Safe to repeat after a failure that may have reached the vendor.
    idempotent: bool = True
    # Every plug-in of the kind implements it (else only providers that can).
    required: bool = True


OPERATIONS: dict[PluginKind, dict[str, Operation]] = {
    PluginKind.CREDIT_BUREAU: {
        "credit_report": Operation(
            "credit_report", r.CreditQuery, r.CreditReport, reusable=True, needs_consent=True
        ),
    },
    PluginKind.BUSINESS_REGISTRY: {
        "company_profile": Operation(
            "company_profile", r.CompanyQuery, r.CompanyProfile, reusable=True
        ),
    },
    PluginKind.JUDICIAL: {
        "court_records": Operation("court_records", r.CourtQuery, r.CourtRecords, reusable=True),
    },
    PluginKind.MESSAGING: {
        "send": Operation("send", r.Message, r.Delivery, idempotent=False),
    },
    PluginKind.TIMESTAMPING: {
        "stamp": Operation("stamp", r.StampRequest, r.Timestamp),
    },
    PluginKind.ESIGNATURE: {
        "create_flow": Operation("create_flow", r.FlowRequest, r.SignFlow, idempotent=False),
        "flow_status": Operation("flow_status", r.FlowRef, r.SignFlow, required=False),
        "revoke": Operation(
            "revoke", r.RevokeRequest, r.SignFlow, idempotent=False, required=False
        ),
    },
}

EMPTY_SETTINGS: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}


class Plugin:
    """Base class of every plug-in. Subclasses set the class attributes and implement
    one ``async def <operation>(self, request)`` per operation of their kind.

    Settings schema: a JSON Schema object; a property with ``"x-secret": true`` is stored
    encrypted and never shown again. ``sandbox`` marks a plug-in that never reaches a
    vendor (deterministic scenarios for demos and tests); a vendor adapter offering a
    vendor sandbox host selects it from its own settings (e.g. ``environment``).
    """

    id: ClassVar[str]
    kind: ClassVar[PluginKind]
    title: ClassVar[Label]
    settings_schema: ClassVar[Mapping[str, Any]] = EMPTY_SETTINGS
    sandbox: ClassVar[bool] = False
    # Defaults the tenant may lower in its settings (``rate_per_minute``, ``timeout_s``).
    rate_per_minute: ClassVar[int] = 60
    timeout_s: ClassVar[float] = 10.0
    max_attempts: ClassVar[int] = 3
    # Messaging only: which identifier of a user the channel's recipients are.
    recipient: ClassVar[Recipient] = Recipient.EMAIL

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)

    @classmethod
    def operations(cls) -> dict[str, Operation]:
        """The operations of the kind this plug-in implements."""
        return {
            name: op
            for name, op in OPERATIONS[cls.kind].items()
            if op.required or callable(getattr(cls, name, None))
        }

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        props = cls.settings_schema.get("properties", {})
        return frozenset(k for k, v in props.items() if v.get("x-secret"))

    async def health(self) -> r.Health:
        """Can this tenant's settings reach the vendor? Sandboxes are always healthy."""
        return r.Health(ok=True, detail="sandbox" if self.sandbox else "no check")

    async def aclose(self) -> None:
        """Release connections (HTTP clients) the plug-in opened."""
