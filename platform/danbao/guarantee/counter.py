"""Counter-guarantees (反担保) of a project: mortgages (抵押), pledges (质押) and
third-party guarantees (保证), each with a valuation, a haircut (折扣率), a registration
state and its certificate; the project's coverage; their release (注销) with the project.

Coverage = Σ valuation × (1 − haircut) over the items still standing (not 已注销) ÷ the
guaranteed amount (docs/lifecycle.md), all in exact decimals. Every change is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from danbao.audit import record_event
from danbao.db.models import CounterGuarantee, Project, User

from .states import State
from .values import FEN, Reader

KINDS: dict[str, tuple[str, ...]] = {
    "mortgage": ("real_estate", "land_use_right", "vehicle", "equipment", "other"),
    "pledge": ("equity", "receivable", "deposit", "certificate_of_deposit", "other"),
    "guarantee": ("company", "person"),
}
REGISTRATIONS = ("unregistered", "registering", "registered", "cancelled")
CANCELLED = "cancelled"
# Items are kept while the guarantee can still be called on; a finished project is read-only.
CLOSED = {State.WITHDRAWN, State.REJECTED, State.RELEASED, State.WRITTEN_OFF}
FIELDS = (
    "kind",
    "asset",
    "description",
    "owner",
    "valuation",
    "haircut",
    "registration",
    "certificate_no",
    "registered_on",
)


class ProjectClosed(Exception):
    def __init__(self, state: str) -> None:
        self.state = state
        super().__init__(f"the project is {state}: its counter-guarantees are closed")


class StaleItem(Exception):
    def __init__(self, item: CounterGuarantee) -> None:
        self.item = item
        super().__init__(f"counter-guarantee {item.id} is at version {item.version}")


def read(body: dict[str, Any], current: CounterGuarantee | None = None) -> dict[str, Any]:
    """The item's values from ``body`` (all of them, or with ``current`` the changed ones
    over it); raises values.Invalid naming each fault by pointer."""
    reader = Reader(body)
    reader.unknown({*FIELDS, "version"})
    partial = current is not None
    values: dict[str, Any] = {}
    kind = reader.choice("kind", tuple(KINDS), required=not partial)
    if kind is not None:
        values["kind"] = kind
    kind = kind or (current.kind if current else None)
    if (reader.present("asset") or not partial) and kind in KINDS:
        asset = reader.choice("asset", KINDS[kind])
        if asset is not None:
            values["asset"] = asset
    elif kind is not None and current is not None and current.asset not in KINDS[kind]:
        reader.fault("asset", f"one of {', '.join(KINDS[kind])} for a {kind}")
    for key, limit in (("description", 500), ("owner", 200)):
        if reader.present(key) or not partial:
            text = reader.text(key, max_length=limit)
            if text is not None:
                values[key] = text
    if reader.present("valuation") or not partial:
        valuation = reader.money("valuation")
        if valuation is not None:
            values["valuation"] = valuation
    if reader.present("haircut") or not partial:
        haircut = reader.ratio("haircut")
        if haircut is not None:
            values["haircut"] = haircut
    registration = reader.choice("registration", REGISTRATIONS, required=False)
    if registration is not None:
        values["registration"] = registration
    if "certificate_no" in body:
        if body["certificate_no"] is None:
            values["certificate_no"] = None
        else:
            certificate = reader.text("certificate_no", max_length=100)
            if certificate is not None:
                values["certificate_no"] = certificate
    if "registered_on" in body:
        values["registered_on"] = reader.date("registered_on", required=False)
    after = {**_values_of(current), **values} if current else values
    if after.get("registration") == "registered" and not after.get("certificate_no"):
        reader.fault(
            "certificate_no", "a registered item needs its certificate number (他项权证号)"
        )
    reader.check()
    return values


def _values_of(item: CounterGuarantee | None) -> dict[str, Any]:
    return {} if item is None else {name: getattr(item, name) for name in FIELDS}


def view(item: CounterGuarantee) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "project_id": str(item.project_id),
        "kind": item.kind,
        "asset": item.asset,
        "description": item.description,
        "owner": item.owner,
        "valuation": str(item.valuation),
        "haircut": str(Decimal(item.haircut).normalize()),
        "effective_value": str(effective(item)),
        "registration": item.registration,
        "certificate_no": item.certificate_no,
        "registered_on": item.registered_on.isoformat() if item.registered_on else None,
        "version": item.version,
        "released_at": item.released_at.isoformat() if item.released_at else None,
    }


def _audit_view(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, Decimal) else v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in values.items()
    }


def effective(item: CounterGuarantee) -> Decimal:
    """valuation × (1 − haircut), to the fen (half up)."""
    value = Decimal(item.valuation) * (Decimal(1) - Decimal(item.haircut))
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Coverage:
    items: int
    valuation: Decimal
    effective: Decimal
    exposure: Decimal
    ratio: Decimal | None

    def as_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "valuation": str(self.valuation),
            "effective_value": str(self.effective),
            "guaranteed_amount": str(self.exposure),
            "ratio": None if self.ratio is None else str(self.ratio),
        }


def coverage_of(project: Project, items: list[CounterGuarantee]) -> Coverage:
    standing = [i for i in items if i.registration != CANCELLED]
    valuation = sum((Decimal(i.valuation) for i in standing), Decimal("0.00"))
    value = sum((effective(i) for i in standing), Decimal("0.00"))
    exposure = Decimal(project.amount)
    ratio = (value / exposure).quantize(Decimal("0.0001"), ROUND_HALF_UP) if exposure else None
    return Coverage(len(standing), valuation, value, exposure, ratio)


async def items_of(project: Project) -> list[CounterGuarantee]:
    return list(await CounterGuarantee.filter(project_id=project.id).order_by("created_at", "id"))


async def coverage(project: Project) -> Coverage:
    return coverage_of(project, await items_of(project))


def _open(project: Project) -> None:
    if State(project.state) in CLOSED:
        raise ProjectClosed(project.state)


async def add(project: Project, values: dict[str, Any], user: User) -> CounterGuarantee:
    """A new item (values from ``read``), audited ``counter_guarantee.added``."""
    _open(project)
    item = await CounterGuarantee.create(
        project_id=project.id,
        created_by=user.id,
        registration=values.get("registration", "unregistered"),
        **{k: v for k, v in values.items() if k != "registration"},
    )
    await record_event(
        "counter_guarantee.added",
        "counter_guarantee",
        str(item.id),
        {"project_id": str(project.id), **_audit_view(_values_of(item))},
    )
    return item


async def change(
    project: Project, item_id: uuid.UUID, body: dict[str, Any], user: User
) -> CounterGuarantee | None:
    """Change an item (``body`` carries the ``version`` seen and the changed values) under
    its row lock; audited ``counter_guarantee.changed`` with each change from → to.
    None when the project has no such item."""
    item = (
        await CounterGuarantee.filter(project_id=project.id, id=item_id).select_for_update().first()
    )
    if item is None:
        return None
    _open(project)
    reader = Reader(body)
    version = reader.integer("version", 1, 2**31 - 1)
    reader.check()
    values = read(body, item)
    if version != item.version:
        raise StaleItem(item)
    before = _values_of(item)
    changes = {k: {"from": before[k], "to": v} for k, v in values.items() if before[k] != v}
    for key, value in values.items():
        setattr(item, key, value)
    if changes:
        item.version += 1
        await item.save()
        await record_event(
            "counter_guarantee.changed",
            "counter_guarantee",
            str(item.id),
            {
                "project_id": str(project.id),
                "actor": str(user.id),
                "version": item.version,
                "changes": {k: _audit_view(v) for k, v in changes.items()},
            },
        )
    return item


async def release_all(project: Project, reason: str) -> int:
    """Release (注销) every standing item of a released project; how many."""
    now = datetime.now(UTC)
    items = await CounterGuarantee.filter(project_id=project.id).exclude(registration=CANCELLED)
    for item in items:
        await CounterGuarantee.filter(id=item.id).update(
            registration=CANCELLED, released_at=now, version=item.version + 1, updated_at=now
        )
        await record_event(
            "counter_guarantee.released",
            "counter_guarantee",
            str(item.id),
            {"project_id": str(project.id), "from": item.registration, "reason": reason},
        )
    return len(items)
