"""Early warning (预警) on a guarantee in force: signals that move a project to the watch
list (``raise_warning``) and tell its owners.

Two signals, on the tenant's settings (tenant.json ``aftercare.warning``):
- ``overdue``: a line of the repayment schedule unpaid ``overdue_days`` (default 1) or
  more days after it fell due;
- ``court``: a re-check of the borrower against the court-records plug-in (失信被执行人,
  被执行人, 限制高消费), when one is enabled and ``court_recheck`` is not false. The query
  goes through the one plug-in call path (audited, its answer kept with the record).

A check is audited ``project.warning_checked`` with what it found. Signals on a project
在保 fire ``raise_warning`` in the same transaction and leave a notification for each of
its owners (who made the project, who made the application).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from danbao.audit import record_event
from danbao.db.models import Project, Record, User
from danbao.notifications import Note, leave
from danbao.plugins.checks import NoSubject, Subject, plugin_for
from danbao.plugins.errors import PluginError
from danbao.plugins.gateway import PluginGateway
from danbao.plugins.sdk import PluginKind

from . import loan
from .service import SystemActor, apply_event
from .states import State

PURPOSE = "post_loan_monitoring"
COURT_HITS = ("dishonest", "executed", "consumption_restricted")


def settings_of(tenant: dict[str, Any]) -> dict[str, Any]:
    warning = (tenant.get("aftercare") or {}).get("warning") or {}
    return {
        "overdue_days": int(warning.get("overdue_days", 1)),
        "court_recheck": bool(warning.get("court_recheck", True)),
    }


async def court_signal(
    gateway: PluginGateway, project: Project, form: dict[str, Any], data: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the court signal or None, what the re-check did)."""
    plugin = await plugin_for(PluginKind.JUDICIAL)
    if plugin is None:
        return None, {"checked": False, "why": "plugin_not_enabled"}
    try:
        asks = Subject.of(form, data).requests("court")
    except NoSubject:
        return None, {"checked": False, "why": "no_subject"}
    hits = dict.fromkeys(COURT_HITS, 0)
    try:
        for ask in asks:
            answer = await gateway.call(
                plugin, "court_records", ask, purpose=PURPOSE, record_id=str(project.record_id)
            )
            for key in COURT_HITS:
                hits[key] += len(answer.data.get(key) or ())
    except PluginError as failure:
        return None, {"checked": False, "plugin": plugin, "why": failure.code}
    done = {"checked": True, "plugin": plugin, **hits}
    return ({"signal": "court", **hits} if any(hits.values()) else None), done


def _summary(signals: list[dict[str, Any]]) -> str:
    parts = []
    for s in signals:
        if s["signal"] == "overdue":
            parts.append(f"逾期 {s['days']} 天，未还本金 {s['principal']} 元")
        else:
            parts.append(
                f"司法信息：失信 {s['dishonest']}，被执行 {s['executed']}，"
                f"限高 {s['consumption_restricted']}"
            )
    return "；".join(parts)


async def notify_owners(
    project: Project, signals: list[dict[str, Any]]
) -> tuple[list[uuid.UUID], list[str]]:
    """One notification for each owner of the project: (the owners, the ids a messaging
    plug-in should send after the commit)."""
    record = await Record.filter(id=project.record_id).first()
    owners = sorted({project.created_by} | ({record.created_by} if record else set()), key=str)
    params = {"project": str(project.id), "number": project.number, "signals": signals}
    title, body = f"项目预警：{project.number}", _summary(signals)
    sent = await leave([Note(o, "project_warning", title, body, params) for o in owners])
    return owners, sent


@dataclass(frozen=True)
class Checked:
    answer: dict[str, Any]
    """What was found and done (the API's answer)."""
    sent: list[str]
    """Notifications a messaging plug-in should send once the caller commits."""


async def check(
    project: Project,
    *,
    tenant: dict[str, Any],
    gateway: PluginGateway | None,
    form: dict[str, Any],
    data: dict[str, Any],
    user: User | SystemActor,
    today: dt.date,
) -> Checked:
    """Look for signals; on a project 在保 with any, move it to the watch list and notify.
    Without a ``gateway`` there is no court re-check (the nightly sweep: a paid query)."""
    settings = settings_of(tenant)
    signals: list[dict[str, Any]] = []
    days, unpaid = await loan.overdue(project, today)
    if days >= settings["overdue_days"] and days > 0:
        signals.append({"signal": "overdue", "days": days, "principal": str(unpaid)})
    rechecked: dict[str, Any] = {"checked": False, "why": "disabled"}
    if settings["court_recheck"] and gateway is not None:
        found, rechecked = await court_signal(gateway, project, form, data)
        if found is not None:
            signals.append(found)
    await record_event(
        "project.warning_checked",
        "project",
        str(project.id),
        {"on": today.isoformat(), "signals": signals, "court": rechecked},
    )
    raised, notified, sent = False, list[str](), list[str]()
    if signals and project.state == State.ACTIVE.value:
        moved = await apply_event(
            project.id, "raise_warning", expected_version=None, user=user, reason=_summary(signals)
        )
        if moved is not None:
            project.state, project.version = moved.project.state, moved.project.version
            raised = True
            owners, sent = await notify_owners(project, signals)
            notified = [str(u) for u in owners]
    answer = {"signals": signals, "court": rechecked, "raised": raised, "notified": notified}
    return Checked(answer, sent)
