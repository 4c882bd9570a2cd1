"""Issuing a document: number it, render it, make the PDF, sign it, store both, record it.

Runs inside the caller's transaction (the request's): the number, the two stored files'
rows, the document row and its audit events commit together or not at all. The bytes go
to object storage first; a rollback leaves them unreferenced under ``documents/``, where
nothing reads them (the same trade as signed files in ``plugins.signing``).

Signing goes through the tenant's e-signature plug-in on the one call path
(``plugins.signing.start_signing``); a provider that signs at once (the guarantor's own
PAdES seal, ``local.pades``) is needed here, since the letter must exist signed before
its verification page can vouch for it. A vendor flow that finishes later (a customer's
own signature) is started on the stored PDF with ``…/signatures`` as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.db.models import PluginSetting, Project, ProjectDocument, Record, StoredFile, User
from danbao.definitions.bundle import Bundle
from danbao.definitions.templates import FormShape, fields_used
from danbao.forms.identifiers import today_in_china
from danbao.guarantee.service import apply_event
from danbao.guarantee.states import state_name
from danbao.ids import new_id
from danbao.plugins import results as r
from danbao.plugins.checks import plugin_for
from danbao.plugins.errors import NotEnabled
from danbao.plugins.gateway import PluginGateway
from danbao.plugins.local_pades import LocalPadesSigner
from danbao.plugins.sdk import PluginKind
from danbao.plugins.signing import start_signing
from danbao.records.numbering import next_number, pattern_for
from danbao.storage import ObjectStore
from danbao.tenancy.context import current_tenant

from .compose import Facts, compose_html, declaration
from .filters import capitals, mask, yuan
from .pdf import html_to_pdf_async
from .render import display_values

TOKEN_BYTES = 24
"""192 random bits: a verification URL cannot be guessed or enumerated."""


ISSUE_EVENTS = {"contract": "sign_contract", "letter": "issue_letter"}
"""The project event a document's issue fires when the record has a project: a signed
contract moves 签约中 → 已签约, an issued letter 已签约 → 已出函 (docs/documents.md)."""
REVOKE_EVENT = "revoke_letter"


class NotForThisForm(ValueError):
    """The document is declared for another form than the record's."""


class NotSignedAtOnce(RuntimeError):
    """The e-signature provider started a flow but returned no signed PDF."""


@dataclass(frozen=True)
class Issued:
    document: ProjectDocument
    signed_pdf: bytes


def project_facts(record: Record, project: Project | None) -> dict[str, Any]:
    """The ``project`` a template reads: the record's project, or, before there is one
    (a preview of a draft), the application record standing in with its number."""
    if project is not None:
        return {
            "number": project.number,
            "state": project.state,
            "state_name": state_name(project.state, "zh-CN"),
            "created_on": project.created_at.date() if project.created_at else None,
        }
    return {
        "number": record.number or "",
        "state": record.status,
        "state_name": {"draft": "草稿", "submitted": "已提交"}.get(record.status, record.status),
        "created_on": record.created_at.date() if record.created_at else None,
    }


async def project_of(record: Record) -> Project | None:
    """The project made of this application, if any (one per record)."""
    return await Project.filter(tenant_id=record.tenant_id, record_id=record.id).first()


async def render_preview(
    bundle: Bundle, version: int, doc_id: str, record: Record, *, pdf: bool
) -> bytes:
    """The document as it would be issued today, marked as a preview (no number, no QR)."""
    _check_form(bundle, doc_id, record)
    facts = Facts(
        number="（预览 PREVIEW）",
        issued_on=today_in_china(),
        verify_url=None,
        project=project_facts(record, await project_of(record)),
        template_version=version,
    )
    html = compose_html(bundle, doc_id, record.data, facts)
    return await html_to_pdf_async(html) if pdf else html.encode("utf-8")


async def issue(
    bundle: Bundle,
    version: int,
    doc_id: str,
    record: Record,
    *,
    gateway: PluginGateway,
    store: ObjectStore,
    verify_base: str,
    issued_by: str,
    plugin_id: str | None = None,
) -> Issued:
    """Issue ``doc_id`` for ``record`` (opened: sensitive values in clear, in memory).

    When the record has a project, issuing fires its event (``ISSUE_EVENTS``) in the same
    transaction; a state that does not allow it raises ``NotAllowed`` before rendering.

    ``verify_base`` is the tenant's public verification URL without the token.
    """
    doc = _check_form(bundle, doc_id, record)
    project = await project_of(record)
    today = today_in_china()
    number = await _number(bundle, doc, record, today)
    if project is not None:
        # The project moves first (row lock, plan, audit): a document its state does not
        # allow is refused before anything is rendered, and both commit together.
        actor = await User.get(id=issued_by)
        await apply_event(
            project.id,
            ISSUE_EVENTS[doc["kind"]],
            expected_version=None,
            user=actor,
            reason=f"{doc['title']['zh-CN']} {number}",
            via="documents",
        )
        project = await project_of(record)
    token = secrets.token_urlsafe(TOKEN_BYTES) if doc["kind"] == "letter" else None
    template = bundle.templates[doc["template"]]
    facts = Facts(
        number=number,
        issued_on=today,
        verify_url=verify_base + token if token else None,
        project=project_facts(record, project),
        template_version=version,
    )
    html = compose_html(bundle, doc_id, record.data, facts)
    pdf = await html_to_pdf_async(html)
    document_row_id = new_id()
    filename = f"{doc['title']['zh-CN']}-{number}.pdf"
    rendered = await _store(store, f"documents/{document_row_id}/rendered.pdf", filename, pdf)

    guarantor = bundle.tenant["name"]["zh-CN"]
    plugin_id = plugin_id or await signer_plugin()
    if plugin_id is None:
        raise NotEnabled("no e-signature plug-in is enabled for this tenant")
    started = await start_signing(
        gateway,
        store,
        record_id=str(record.id),
        file_id=str(rendered.id),
        title=f"{doc['title']['zh-CN']} {number}"[:100],
        signers=(r.SignerSpec(guarantor, "organisation"),),
        callback_base=None,
        plugin_id=plugin_id,
    )
    if not started.signed_files:
        raise NotSignedAtOnce(started.flow.get("flow_id", ""))
    signed_row = await StoredFile.get(id=started.signed_files[0])
    signed_pdf = await store.get(signed_row.key)

    row = await ProjectDocument.create(
        id=document_row_id,
        tenant_id=current_tenant().tenant_id,
        record_id=record.id,
        project_id=project.id if project is not None else None,
        form_id=record.form_id,
        document_id=doc_id,
        kind=doc["kind"],
        number=number,
        definition_version=version,
        template_sha256=hashlib.sha256(template.encode("utf-8")).hexdigest(),
        rendered_sha256=rendered.sha256,
        rendered_file_id=rendered.id,
        signed_sha256=signed_row.sha256,
        signed_file_id=signed_row.id,
        signed_with=plugin_id,
        flow_id=started.flow["flow_id"],
        verify_token=token,
        public=public_facts(bundle, doc, record, number, today),
        fields_used=sorted(printed_fields(bundle, doc_id)),
        issued_by=issued_by,
    )
    await record_event(
        "document.issued",
        "project_document",
        str(row.id),
        {
            "record_id": str(record.id),
            "project_id": str(project.id) if project is not None else None,
            "document": doc_id,
            "kind": doc["kind"],
            "number": number,
            "definition_version": version,
            "template_sha256": row.template_sha256,
            "rendered_sha256": row.rendered_sha256,
        },
    )
    await record_event(
        "document.signed",
        "project_document",
        str(row.id),
        {"flow_id": row.flow_id, "signed_sha256": row.signed_sha256, "plugin": plugin_id},
    )
    return Issued(row, signed_pdf)


def printed_fields(bundle: Bundle, doc_id: str) -> frozenset[str]:
    """The form fields the document's template prints (``definitions.templates``)."""
    doc = declaration(bundle, doc_id)
    shape = FormShape.of(bundle.forms[doc["form"]])
    return fields_used(bundle.templates[doc["template"]], shape)


async def signer_plugin() -> str | None:
    """The guarantor's own seal when enabled (it signs at once), else the first provider."""
    async with in_transaction():
        own = await PluginSetting.filter(plugin_id=LocalPadesSigner.id, enabled=True).exists()
    return LocalPadesSigner.id if own else await plugin_for(PluginKind.ESIGNATURE)


def public_facts(
    bundle: Bundle, doc: dict[str, Any], record: Record, number: str, issued_on: dt.date
) -> dict[str, Any]:
    """What the public verification page shows, fixed now (docs/documents.md): never an ID
    number, a phone or any field the declaration does not name; the debtor masked."""
    form = bundle.forms[doc["form"]]
    shown = display_values(form["schema"], record.data)
    facts: dict[str, Any] = {
        "title": doc["title"],
        "number": number,
        "guarantor": bundle.tenant["name"],
        "issued_on": issued_on.isoformat(),
    }
    fields = doc.get("verification", {})
    if "amount" in fields and record.data.get(fields["amount"]) is not None:
        amount = record.data[fields["amount"]]
        facts["amount"] = {"figures": yuan(amount), "capitals": capitals(amount)}
    if "debtor" in fields and record.data.get(fields["debtor"]):
        name = str(record.data[fields["debtor"]])
        keep = 2 if len(name) > 6 else 1
        facts["debtor"] = mask(name, keep, keep)
    if "beneficiary" in fields and shown.get(fields["beneficiary"]):
        facts["beneficiary"] = str(shown[fields["beneficiary"]])
    return facts


def _check_form(bundle: Bundle, doc_id: str, record: Record) -> dict[str, Any]:
    doc = declaration(bundle, doc_id)
    if doc["form"] != record.form_id:
        raise NotForThisForm(f"{doc_id} is rendered from form {doc['form']!r}")
    return doc


async def _number(bundle: Bundle, doc: dict[str, Any], record: Record, on: dt.date) -> str:
    key = doc.get("numbering")
    if key is None:
        # No rule of its own: the record's number with the document's id is unique too.
        return f"{record.number or record.id}-{doc['id']}"
    return await next_number(key, pattern_for(bundle.tenant, key), on)


async def _store(store: ObjectStore, key: str, filename: str, pdf: bytes) -> StoredFile:
    await store.put(key, pdf, "application/pdf")
    return await StoredFile.create(
        key=key,
        filename=filename,
        content_type="application/pdf",
        size=len(pdf),
        sha256=hashlib.sha256(pdf).hexdigest(),
        created_by=current_tenant().principal.id,
    )
