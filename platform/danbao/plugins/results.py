"""Normalised results, one shape per kind, whatever the vendor.

Workflows, pages and reports read these and nothing vendor-specific; adapters map their
vendor's answer onto them. Amounts are yuan as decimal strings (exact, JSON-safe), dates
ISO 8601. The shapes follow the PBOC second-generation report and the registry and court
data aggregators' common fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CreditQuery:
    """A credit report request. ``id_no`` for a person, ``uscc`` for an enterprise."""

    subject_type: str  # person | enterprise
    name: str
    id_no: str | None = None
    uscc: str | None = None


@dataclass(frozen=True)
class CreditSummary:
    accounts: int
    overdue_accounts: int
    max_overdue_months: int
    total_balance: str
    guarantee_liability: str
    queries_3m: int
    queries_6m: int


@dataclass(frozen=True)
class CreditAccount:
    type: str  # loan | revolving | card
    institution: str
    opened: str
    limit_or_amount: str
    balance: str
    five_level_class: str  # 正常 关注 次级 可疑 损失
    overdue_amount: str
    status: str
    repayment_24m: str  # one character a month, "N" on time, digits months overdue


@dataclass(frozen=True)
class PublicRecord:
    kind: str  # tax_arrears | judgment | enforcement | penalty
    org: str
    date: str
    amount: str


@dataclass(frozen=True)
class QueryRecord:
    date: str
    org: str
    reason: str


@dataclass(frozen=True)
class CreditReport:
    report_no: str
    report_time: str
    source: str
    summary: CreditSummary
    score: int | None = None
    accounts: tuple[CreditAccount, ...] = ()
    related_repayment_liabilities: tuple[CreditAccount, ...] = ()
    public_records: tuple[PublicRecord, ...] = ()
    queries: tuple[QueryRecord, ...] = ()
    raw_document_ref: str | None = None


@dataclass(frozen=True)
class CompanyQuery:
    uscc: str
    name: str | None = None


@dataclass(frozen=True)
class Shareholder:
    name: str
    ratio: str  # percent as a decimal string, "35.00"
    amount: str


@dataclass(frozen=True)
class CompanyProfile:
    uscc: str
    name: str
    legal_rep: str
    reg_capital: str
    established: str
    status: str  # 存续 在业 吊销 注销
    address: str
    scope: str
    industry: str
    shareholders: tuple[Shareholder, ...] = ()
    executives: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    abnormal_operations: tuple[str, ...] = ()
    penalties: tuple[str, ...] = ()


@dataclass(frozen=True)
class CourtQuery:
    name: str
    id_no: str | None = None
    uscc: str | None = None


@dataclass(frozen=True)
class DishonestCase:
    case_no: str
    court: str
    filed: str
    obligation: str
    performance: str


@dataclass(frozen=True)
class ExecutedCase:
    case_no: str
    court: str
    filed: str
    amount: str


@dataclass(frozen=True)
class CourtRecords:
    dishonest: tuple[DishonestCase, ...] = ()
    executed: tuple[ExecutedCase, ...] = ()
    consumption_restricted: tuple[str, ...] = ()
    litigation_count: int = 0

    @property
    def clean(self) -> bool:
        return not (self.dishonest or self.executed or self.consumption_restricted)


@dataclass(frozen=True)
class Message:
    """A notification: plain text, optionally markdown for channels that render it."""

    recipients: tuple[str, ...]  # user ids, mobiles or e-mail addresses by channel
    title: str
    text: str
    markdown: str | None = None


@dataclass(frozen=True)
class Delivery:
    channel: str
    message_id: str
    accepted: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True)
class StampRequest:
    sha256: str


@dataclass(frozen=True)
class Timestamp:
    sha256: str
    time: str
    authority: str
    token: str  # base64 of the authority's token


@dataclass(frozen=True)
class Document:
    """A PDF travelling to or from an e-signature provider (base64, with its digest)."""

    name: str
    content_b64: str
    sha256: str


@dataclass(frozen=True)
class SignerSpec:
    name: str
    kind: str  # person | organisation
    mobile: str | None = None
    id_no: str | None = None
    uscc: str | None = None


@dataclass(frozen=True)
class FlowRequest:
    title: str
    documents: tuple[Document, ...]
    signers: tuple[SignerSpec, ...]
    expire_days: int = 30
    notify_url: str | None = None


@dataclass(frozen=True)
class FlowRef:
    flow_id: str


@dataclass(frozen=True)
class RevokeRequest:
    flow_id: str
    reason: str


@dataclass(frozen=True)
class SignerState:
    name: str
    status: str  # WAITING | SIGNED | REJECTED
    sign_url: str | None = None


FLOW_STATUSES = ("DRAFT", "SIGNING", "DONE", "REVOKED", "EXPIRED", "REJECTED")


@dataclass(frozen=True)
class SignFlow:
    flow_id: str
    status: str  # one of FLOW_STATUSES
    signers: tuple[SignerState, ...] = ()
    # The signed documents, once DONE, from providers that hand them back at once.
    documents: tuple[Document, ...] = ()


@dataclass(frozen=True)
class CallbackEvent:
    """A vendor's notification, verified: which flow, what happened, its new status."""

    event_id: str
    flow_id: str
    action: str
    status: str


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""
    latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def to_json(value: Any) -> Any:
    """A result (or request) as plain JSON data: dataclasses to dicts, tuples to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
