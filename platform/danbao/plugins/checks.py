"""Due-diligence checks on a record: registry, court records and credit, through plug-ins.

The form's ``x-subject`` says which fields name the applicant (see
:mod:`danbao.definitions.subject`); the tenant's enabled plug-in of each kind answers.
Each check stands alone: one failing (a vendor down, consent missing) never undoes
another's answer, which may have been a paid query. Answers are stored with the record
by the call path, encrypted, and listed back from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from danbao.db.models import PluginResult, PluginSetting

from . import catalog
from . import results as r
from .errors import PluginError
from .gateway import Outcome, PluginGateway
from .sdk import PluginKind

CHECKS: dict[str, tuple[PluginKind, str]] = {
    "registry": (PluginKind.BUSINESS_REGISTRY, "company_profile"),
    "court": (PluginKind.JUDICIAL, "court_records"),
    "credit": (PluginKind.CREDIT_BUREAU, "credit_report"),
}
PURPOSE = "due_diligence"


class NoSubject(ValueError):
    """The form names no applicant fields (``x-subject``), or the record leaves them empty."""


@dataclass(frozen=True)
class Subject:
    name: str | None
    uscc: str | None
    person_name: str | None
    person_id: str | None

    @classmethod
    def of(cls, form: dict[str, Any], data: dict[str, Any]) -> Subject:
        mapping = form.get("x-subject") or {}
        if not mapping:
            raise NoSubject("the form declares no x-subject")

        def value(role: str) -> str | None:
            field = mapping.get(role)
            raw = data.get(field) if field else None
            return str(raw).strip() or None if raw is not None else None

        subject = cls(value("name"), value("uscc"), value("person_name"), value("person_id"))
        if not (subject.uscc or subject.person_id):
            raise NoSubject("the record has neither a credit code nor an ID number yet")
        return subject

    def requests(self, check: str) -> list[Any]:
        """What to ask for ``check``: the enterprise and, for court records, its representative."""
        name = self.name or ""
        person = self.person_name or name
        if check == "registry":
            return [r.CompanyQuery(self.uscc, self.name)] if self.uscc else []
        if check == "court":
            asks: list[Any] = []
            if self.uscc:
                asks.append(r.CourtQuery(name, uscc=self.uscc))
            if self.person_id:
                asks.append(r.CourtQuery(person, id_no=self.person_id))
            return asks
        if self.uscc:
            return [r.CreditQuery("enterprise", name, uscc=self.uscc)]
        return [r.CreditQuery("person", person, id_no=self.person_id)]


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    plugin: str | None
    ok: bool
    result_ids: tuple[str, ...] = ()
    reused: bool = False
    error: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "plugin": self.plugin,
            "ok": self.ok,
            "result_ids": list(self.result_ids),
            "reused": self.reused,
            "error": self.error,
            "detail": self.detail,
        }


async def plugin_for(kind: PluginKind) -> str | None:
    """The tenant's enabled plug-in of ``kind`` (the first by id when it enabled several)."""
    async with in_transaction():
        rows = await PluginSetting.filter(enabled=True).order_by("plugin_id")
    enabled = [row.plugin_id for row in rows]
    installed = catalog.installed()
    return next((p for p in enabled if p in installed and installed[p].kind == kind), None)


async def run_checks(
    gateway: PluginGateway,
    form: dict[str, Any],
    record_id: str,
    data: dict[str, Any],
    checks: list[str],
    *,
    consent_document_id: str | None,
) -> list[CheckOutcome]:
    subject = Subject.of(form, data)
    outcomes = []
    for check in checks:
        kind, operation = CHECKS[check]
        plugin_id = await plugin_for(kind)
        if plugin_id is None:
            outcomes.append(CheckOutcome(check, None, False, error="plugin_not_enabled"))
            continue
        answers: list[Outcome] = []
        try:
            for request in subject.requests(check):
                answers.append(
                    await gateway.call(
                        plugin_id,
                        operation,
                        request,
                        purpose=PURPOSE,
                        consent_document_id=consent_document_id,
                        record_id=record_id,
                    )
                )
        except PluginError as failure:
            outcomes.append(
                CheckOutcome(check, plugin_id, False, error=failure.code, detail=str(failure))
            )
            continue
        outcomes.append(
            CheckOutcome(
                check,
                plugin_id,
                True,
                tuple(a.result_id for a in answers),
                reused=any(a.reused for a in answers),
            )
        )
    return outcomes


async def stored_checks(gateway: PluginGateway, record_id: str) -> list[dict[str, Any]]:
    """Every answer kept for the record, newest first, decrypted."""
    async with in_transaction():
        rows = await PluginResult.filter(record_id=record_id).order_by("-created_at")
        return [
            {
                "id": str(row.id),
                "plugin": row.plugin_id,
                "operation": row.operation,
                "purpose": row.purpose,
                "created_at": row.created_at.isoformat(),
                "created_by": row.created_by,
                "result": await gateway.open(row),
            }
            for row in rows
        ]
