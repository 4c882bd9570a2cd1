"""Signing a record's document through the tenant's e-signature plug-in.

The document is one of the tenant's stored files (a contract rendered or uploaded); the
flow goes through the call path like any plug-in call (purpose ``contracting``, the
record's id); signed PDFs that come back are stored as new files beside the original
with their SHA-256, so the record keeps both. The vendor's later callbacks (see
``web/callbacks_api``) update the flow's status; :func:`signatures_of` reads both.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from danbao.db.models import PluginCallback, PluginResult, StoredFile
from danbao.storage import ObjectStore
from danbao.tenancy.context import current_tenant

from . import results as r
from .checks import plugin_for
from .errors import NotEnabled
from .gateway import PluginGateway
from .sdk import PluginKind

PURPOSE = "contracting"


class FileNotFound(LookupError):
    """No stored file of this tenant has that id."""


@dataclass(frozen=True)
class Started:
    flow: dict[str, Any]  # the SignFlow, documents reduced to their names and digests
    signed_files: list[str]  # ids of the stored signed PDFs (when the provider signs at once)


def _without_contents(flow: dict[str, Any]) -> dict[str, Any]:
    docs = [{"name": d["name"], "sha256": d["sha256"]} for d in flow.get("documents", [])]
    return {**flow, "documents": docs}


async def start_signing(
    gateway: PluginGateway,
    store: ObjectStore,
    *,
    record_id: str,
    file_id: str,
    title: str,
    signers: tuple[r.SignerSpec, ...],
    callback_base: str | None,
    plugin_id: str | None = None,
) -> Started:
    """``callback_base`` is the tenant's callback URL without the plug-in id; ``plugin_id``
    chooses the provider (a tenant may have its own seal and a vendor), else the first
    enabled e-signature plug-in."""
    plugin_id = plugin_id or await plugin_for(PluginKind.ESIGNATURE)
    if plugin_id is None:
        raise NotEnabled("no e-signature plug-in is enabled for this tenant")
    async with in_transaction():
        stored = await StoredFile.filter(id=file_id).first()
    if stored is None:
        raise FileNotFound(file_id)
    pdf = await store.get(stored.key)
    document = r.Document(
        stored.filename, base64.b64encode(pdf).decode(), hashlib.sha256(pdf).hexdigest()
    )
    outcome = await gateway.call(
        plugin_id,
        "create_flow",
        r.FlowRequest(
            title,
            (document,),
            signers,
            notify_url=callback_base + plugin_id if callback_base else None,
        ),
        purpose=PURPOSE,
        record_id=record_id,
    )
    signed_ids = []
    for doc in outcome.data.get("documents", []):
        content = base64.b64decode(doc["content_b64"])
        key = f"signed/{outcome.data['flow_id']}/{doc['sha256'][:16]}.pdf"
        await store.put(key, content, "application/pdf")
        async with in_transaction():
            row = await StoredFile.create(
                key=key,
                filename=doc["name"],
                content_type="application/pdf",
                size=len(content),
                sha256=doc["sha256"],
                created_by=current_tenant().principal.id,
            )
        signed_ids.append(str(row.id))
    return Started(_without_contents(outcome.data), signed_ids)


async def signatures_of(gateway: PluginGateway, record_id: str) -> list[dict[str, Any]]:
    """The record's signing flows, newest first, each with the latest verified callback."""
    async with in_transaction():
        rows = await PluginResult.filter(record_id=record_id, operation="create_flow").order_by(
            "-created_at"
        )
        flows = [(row, _without_contents(await gateway.open(row))) for row in rows]
        latest: dict[str, PluginCallback] = {}
        ids = [flow["flow_id"] for _, flow in flows]
        for event in await PluginCallback.filter(flow_id__in=ids).order_by("received_at"):
            latest[event.flow_id] = event
    return [
        {
            "plugin": row.plugin_id,
            "started_at": row.created_at.isoformat(),
            "flow": flow,
            "status": latest[flow["flow_id"]].status
            if flow["flow_id"] in latest
            else flow["status"],
        }
        for row, flow in flows
    ]
