"""The customer portal's pages under ``/t/{slug}/portal`` (docs/portal.md): the
applicant's applications and projects, a new application on the tenant's application form
(the generated form, as the staff pages render it), a draft continued and submitted,
a project's progress, documents and signatures.

Every read goes through ``portal.ownership`` (tenant and applicant); anything not the
applicant's is the ordinary 404. The form and its field rules for applicants are
tenant.json's ``portal`` section (definitions/portal.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import apply_field_rules
from danbao.db.models import Project, ProjectDocument, Record, ServiceTicket, StoredFile, User
from danbao.definitions import Bundle
from danbao.definitions.versions import VersionNotFound, get_version
from danbao.guarantee import service
from danbao.guarantee.attributes import AttributesInvalid, mapping_for
from danbao.i18n import translate
from danbao.plugins.checks import NoSubject, Subject
from danbao.plugins.signing import signatures_of
from danbao.portal import ownership, progress, receipts
from danbao.records import actions, attachments
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.numbering import NoNumberingRule, pattern_for
from danbao.records.sensitive import open_record
from danbao.records.validation import FieldError
from danbao.tickets.sla import CATEGORIES
from danbao.web.documents_api import check_fields_visible
from danbao.web.errors import HttpError, locale_of
from danbao.web.form_pages import build_sections, data_from_form
from danbao.web.pickers import choices_for
from danbao.web.portal_endpoint import Visitor, portal_base, portal_endpoint, visitor_of
from danbao.web.records_export import content_disposition
from danbao.web.templates import render, templates
from danbao.web.tenant_endpoint import services_of


def portal_form_id(bundle: Bundle) -> str | None:
    """tenant.json ``/portal/form``; without a portal section, the first form the project
    mapping reads."""
    section = bundle.tenant.get("portal") or {}
    sources = (bundle.tenant.get("project") or {}).get("sources") or {}
    candidates = [section["form"]] if "form" in section else list(sources)
    return next((form_id for form_id in candidates if form_id in bundle.forms), None)


def applicant_rules(bundle: Bundle) -> FieldRules:
    """tenant.json ``/portal/fields`` (hidden or readonly); every other field writable."""
    named = (bundle.tenant.get("portal") or {}).get("fields") or {}
    return FieldRules({k: FieldRule(v) for k, v in named.items()}, FieldRule.WRITABLE)


@dataclass(frozen=True)
class Desk:
    """The signed-in applicant, the current definitions and the application form."""

    visitor: Visitor
    owner: User
    version: int
    bundle: Bundle
    form: FormDefinition

    @property
    def rules(self) -> FieldRules:
        return applicant_rules(self.bundle)


async def desk_of(request: Request) -> Desk:
    visitor = visitor_of(request)
    active = await services_of(request).bundles.current()
    form_id = portal_form_id(active[1]) if active else None
    if active is None or form_id is None:
        raise HttpError(404, "not_found")
    version, bundle = active
    form = FormDefinition.from_bundle(bundle, form_id)
    return Desk(visitor, await visitor.owner(), version, bundle, form)


def _text(value: Any, locale: str) -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh-CN") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def render_portal(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> Response:
    visitor = visitor_of(request)
    return render(
        request,
        name,
        {
            "tenant": visitor.tenant,
            "portal": portal_base(request),
            "base": portal_base(request),  # the attachment widget's API lives under the portal
            "csrf": visitor.csrf,
            "signed_in": visitor.applicant is not None,
            **context,
        },
        status_code=status,
    )


# ---------------------------------------------------------------- my applications


@portal_endpoint()
async def home(request: Request) -> Response:
    desk = await desk_of(request)
    locale = locale_of(request)
    records = await ownership.records_of(desk.visitor.signed_in)
    projects = await ownership.projects_by_record(desk.visitor.signed_in)
    items = []
    for record in records:
        project = projects.get(record.id)
        state = project.state if project else None
        shown = progress.shown_state(state, record)
        items.append(
            {
                "number": record.number,
                "created": progress.local_time(record.created_at)[:10],
                "state": shown,
                "state_label": translate(locale, f"portal.state.{shown}"),
                "amount": f"{project.amount:,.2f}" if project else None,
                "steps": progress.steps(state, record),
                "url": f"{portal_base(request)}/projects/{project.id}"
                if project
                else f"{portal_base(request)}/applications/{record.id}",
            }
        )
    return render_portal(
        request,
        "portal/home.html",
        {"items": items, "form_title": _text(desk.form.content.get("title"), locale)},
    )


# ---------------------------------------------------------------- the application form


async def _form_page(
    request: Request,
    desk: Desk,
    form: FormDefinition,
    *,
    record: Record | None,
    values: dict[str, Any],
    errors: list[FieldError] | None = None,
    status: int = 200,
) -> Response:
    locale = locale_of(request)
    editable = record is None or record.status == actions.DRAFT
    logic = form.logic if form.logic.active and editable else None
    state = None
    if logic is not None:
        result = logic.run(dict(values))
        state = result.state
        values = {**values, **{n: result.values.get(n) for n, k in logic.computed if k is None}}
    sections = build_sections(
        form,
        values,
        desk.rules,
        {e.pointer: e.message for e in errors or []},
        locale,
        read_only=not editable,
        state=state,
        choices=await choices_for(form),
    )
    base = portal_base(request)
    return render_portal(
        request,
        "portal/application.html",
        {
            "form": form,
            "title": _text(form.content.get("title"), locale) or form.form_id,
            "description": _text(form.content.get("description"), locale),
            "record": record,
            "sections": sections,
            "errors": [{"message": e.message, "pointer": e.pointer} for e in errors or []],
            "action": f"{base}/applications/{record.id}" if record else f"{base}/apply",
            "can_save": editable,
            "can_reveal": False,
            "logic": logic.spec if logic is not None else None,
            "notice": request.query_params.get("done"),
        },
        status,
    )


async def _pinned(desk: Desk, record: Record) -> FormDefinition:
    if record.form_version == desk.version:
        return desk.form
    try:
        stored = await get_version(record.form_version)
        return FormDefinition.from_files(stored.bundle, record.form_id)
    except (VersionNotFound, FormNotFound):
        return desk.form


@portal_endpoint()
async def apply(request: Request) -> Response:
    desk = await desk_of(request)
    if request.method == "GET":
        defaults = {k: p["default"] for k, p in desk.form.properties.items() if "default" in p}
        return await _form_page(request, desk, desk.form, record=None, values=defaults)
    posted = await request.form()
    data = data_from_form(desk.form, posted, desk.rules, existing={})
    try:
        record = await actions.create_draft(
            desk.form,
            desk.version,
            data,
            user=desk.owner,
            rules=desk.rules,
            locale=locale_of(request),
            keys=services_of(request).keys,
        )
    except actions.RecordInvalid as refused:
        values = await attachments.with_names(
            desk.form, data, user_id=desk.owner.id, record_id=None
        )
        return await _form_page(
            request, desk, desk.form, record=None, values=values, errors=refused.errors, status=422
        )
    if posted.get("action") == "submit":
        return await _submit(request, desk, desk.form, record)
    return _to_record(request, record, "saved")


def _to_record(request: Request, record: Record, done: str) -> Response:
    url = f"{portal_base(request)}/applications/{record.id}?done={done}"
    return RedirectResponse(url, status_code=303)


async def _owned_record(request: Request, desk: Desk, *, for_update: bool = False) -> Record:
    record = await ownership.record_of(
        desk.visitor.signed_in, request.path_params["record_id"], for_update=for_update
    )
    if record is None or record.form_id != desk.form.form_id:
        raise HttpError(404, "not_found")
    return await open_record(services_of(request).keys, record)


@portal_endpoint()
async def application(request: Request) -> Response:
    desk = await desk_of(request)
    if request.method == "GET":
        record = await _owned_record(request, desk)
        form = await _pinned(desk, record)
        values = apply_field_rules(record.data, desk.rules)
        return await _form_page(request, desk, form, record=record, values=values)
    record = await _owned_record(request, desk, for_update=True)
    if record.status != actions.DRAFT:
        raise HttpError(409, "conflict")
    form = await _pinned(desk, record)
    posted = await request.form()
    revision_raw = str(posted.get("revision") or "")
    patch = data_from_form(form, posted, desk.rules, existing=record.data)
    shown = apply_field_rules(record.data, desk.rules)
    try:
        record = await actions.save_draft(
            record,
            form,
            patch,
            rules=desk.rules,
            locale=locale_of(request),
            revision=int(revision_raw) if revision_raw.isdigit() else None,
            keys=services_of(request).keys,
            user_id=desk.owner.id,
        )
    except actions.StaleRevision as exc:
        raise HttpError(409, "conflict") from exc
    except actions.RecordInvalid as refused:
        values = {**shown, **{k: v for k, v in patch.items() if v is not None}}
        for key in [k for k, v in patch.items() if v is None]:
            values.pop(key, None)
        values = await attachments.with_names(
            form, values, user_id=desk.owner.id, record_id=record.id
        )
        return await _form_page(
            request, desk, form, record=record, values=values, errors=refused.errors, status=422
        )
    if posted.get("action") == "submit":
        return await _submit(request, desk, form, record)
    return _to_record(request, record, "saved")


async def _submit(request: Request, desk: Desk, form: FormDefinition, record: Record) -> Response:
    """Submit the draft and register its project (state DRAFT, to be accepted by staff), or
    neither: a savepoint keeps a refused submission from leaving a half (the draft stays)."""
    keys = services_of(request).keys
    try:
        pattern = pattern_for(desk.bundle.tenant, form.numbering_key)
    except NoNumberingRule as exc:
        detail = f"tenant.json has no numbering rule {form.numbering_key!r}"
        raise HttpError(409, "bad_request", params={"detail": detail}) from exc
    errors: list[FieldError] = []
    project: Project | None = None
    try:
        async with in_transaction():
            record = await actions.submit(
                record, form, pattern, locale=locale_of(request), keys=keys
            )
            if mapping_for(desk.bundle.tenant, record.form_id) is not None:
                project = await service.create_from_record(
                    desk.bundle.tenant, form, record, user=desk.owner, keys=keys
                )
    except actions.RecordInvalid as refused:
        errors = refused.errors
    except AttributesInvalid as refused:
        errors = [FieldError(e.pointer, e.message) for e in refused.errors]
    if errors:
        fresh = await ownership.record_of(desk.visitor.signed_in, str(record.id))
        assert fresh is not None  # the applicant's own draft, read a moment ago
        record = await open_record(keys, fresh)
        values = apply_field_rules(record.data, desk.rules)
        return await _form_page(
            request, desk, form, record=record, values=values, errors=errors, status=422
        )
    await record_event(
        "portal.application_submitted",
        "record",
        str(record.id),
        {"number": record.number, "project": str(project.id) if project else None},
    )
    if project is not None:
        url = f"{portal_base(request)}/projects/{project.id}?done=submitted"
        return RedirectResponse(url, status_code=303)
    return _to_record(request, record, "submitted")


# ---------------------------------------------------------------- a project


async def owned_project(request: Request) -> tuple[Project, Record]:
    found = await ownership.project_of(
        visitor_of(request).signed_in, request.path_params["project_id"]
    )
    if found is None:
        raise HttpError(404, "not_found")
    return found


def _sign_links(flows: list[dict[str, Any]], subject: Subject | None) -> list[dict[str, Any]]:
    """Each flow's status; a signing link only for a signer named as the applicant."""
    names = {n for n in (subject.name, subject.person_name) if n} if subject else set()
    shown = []
    for item in flows:
        flow = item.get("flow") or {}
        signers = []
        for signer in flow.get("signers") or []:
            mine = signer.get("name") in names and signer.get("status") == "WAITING"
            signers.append(
                {
                    "name": signer.get("name"),
                    "status": signer.get("status"),
                    "url": signer.get("sign_url") if mine else None,
                }
            )
        shown.append({"status": item.get("status"), "signers": signers})
    return shown


@portal_endpoint()
async def project_page(request: Request) -> Response:
    desk = await desk_of(request)
    locale = locale_of(request)
    project, record = await owned_project(request)
    await open_record(services_of(request).keys, record)
    documents = await ownership.documents_of(project)
    try:
        subject: Subject | None = Subject.of(desk.form.content, record.data)
    except NoSubject:
        subject = None
    flows = await signatures_of(services_of(request).plugins, str(record.id))
    loan, repayments = await receipts.loan_and_repayments(project)
    shown = progress.shown_state(project.state, record)
    base = f"{portal_base(request)}/projects/{project.id}"
    return render_portal(
        request,
        "portal/project.html",
        {
            "project": project,
            "amount": f"{project.amount:,.2f}",
            "record": record,
            "state": shown,
            "state_label": translate(locale, f"portal.state.{shown}"),
            "stopped": project.state in progress.STOPPED,
            "steps": progress.steps(project.state, record),
            "timeline": [
                {"at": progress.local_time(m.at), "key": m.key, "params": m.params}
                for m in await progress.timeline(project, record, documents)
            ],
            "documents": [
                {
                    "number": d.number,
                    "kind": d.kind,
                    "status": d.status,
                    "issued": progress.local_time(d.issued_at)[:10],
                    "url": f"{base}/documents/{d.id}/pdf",
                }
                for d in documents
            ],
            "flows": _sign_links(flows, subject),
            "loan": {
                "disbursed_on": loan.disbursed_on.isoformat(),
                "amount": f"{loan.amount:,.2f}",
                "outstanding": f"{loan.principal_outstanding:,.2f}",
            }
            if loan
            else None,
            "repayments": [
                {
                    "paid_on": r.paid_on.isoformat(),
                    "amount": f"{r.principal + r.interest:,.2f}",
                    "url": f"{base}/repayments/{r.id}/receipt",
                }
                for r in repayments
            ],
            "application_url": f"{portal_base(request)}/applications/{record.id}",
            "tickets": await ServiceTicket.filter(
                project_id=project.id,
                opened_by_kind="applicant",
                opened_by=visitor_of(request).signed_in.id,
            ).order_by("-created_at"),
            "ticket_categories": CATEGORIES,
            "notice": request.query_params.get("done"),
        },
    )


@portal_endpoint()
async def document_pdf(request: Request) -> Response:
    desk = await desk_of(request)
    project, _ = await owned_project(request)
    wanted = request.path_params["document_id"]
    row: ProjectDocument | None = next(
        (d for d in await ownership.documents_of(project) if str(d.id) == wanted), None
    )
    if row is None:
        raise HttpError(404, "not_found")
    check_fields_visible(applicant_rules(desk.bundle), row.fields_used)
    stored = await StoredFile.get(id=row.signed_file_id)
    pdf = await services_of(request).store.get(stored.key)
    await record_event(
        "document.downloaded",
        "project_document",
        str(row.id),
        {"variant": "signed", "via": "portal"},
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(stored.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@portal_endpoint()
async def receipt(request: Request) -> Response:
    """A repayment's receipt (还款回执) as a PDF: the applicant's own project's payment only."""
    project, _ = await owned_project(request)
    _, repayments = await receipts.loan_and_repayments(project)
    wanted = request.path_params["repayment_id"]
    found = next((r for r in repayments if str(r.id) == wanted), None)
    if found is None:
        raise HttpError(404, "not_found")
    locale = locale_of(request)
    html = templates.get_template("portal/receipt.html").render(
        locale=locale,
        t=lambda key, **params: translate(locale, key, **params),
        guarantor=visitor_of(request).tenant.name,
        r=receipts.facts(project, found),
    )
    pdf = await receipts.receipt_pdf(html)
    await record_event("portal.receipt_downloaded", "loan_repayment", str(found.id), {})
    name = f"{project.number}-{found.paid_on.isoformat()}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/apply", apply, methods=["GET", "POST"]),
    Route("/applications/{record_id}", application, methods=["GET", "POST"]),
    Route("/projects/{project_id}", project_page, methods=["GET"]),
    Route("/projects/{project_id}/documents/{document_id}/pdf", document_pdf, methods=["GET"]),
    Route("/projects/{project_id}/repayments/{repayment_id}/receipt", receipt, methods=["GET"]),
]
