"""Issuing documents for real: the letter is numbered, rendered, signed with the tenant's
PAdES seal, stored with its hashes; its public page confirms it without private data and
compares an uploaded copy; downloads are authorised like the record."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, ProjectDocument
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import Seal, new_seal, verify_pdf
from danbao.plugins.tenant_config import configure
from danbao.provisioning import create_tenant
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, PHONE, ClientFactory, TenantFixture, sign_in
from .documents_helpers import starter_with_documents
from .projects_helpers import advance, projects_url, submitted_record
from .records_helpers import VALID, VALID_ID, new_user, records_url

GUARANTOR = "示例融资担保有限公司"


@dataclass(frozen=True)
class DocTenant:
    tenant: TenantFixture
    seal: Seal
    manager: str


@pytest.fixture(scope="module")
async def doc(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> DocTenant:
    """A tenant of the starter template with its contract and letter, and its own seal."""
    services: Services = app.state.services
    slug = f"doc{uuid.uuid4().hex[:8]}"
    bundle = starter_with_documents(Path(tmp_path_factory.mktemp("bundle")) / "b")
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    fixture = TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")
    seal = new_seal(GUARANTOR)
    with tenant_scope(fixture.context):
        async with in_transaction():
            await configure(
                services.keys, LocalPadesSigner, settings=seal_settings(seal, GUARANTOR)
            )
    manager, _ = await new_user(fixture, ["account_manager"])
    return DocTenant(fixture, seal, manager)


async def new_record(client: httpx.AsyncClient, slug: str, csrf: str) -> str:
    created = await client.post(
        records_url(slug), json={"data": VALID}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def flat_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "".join(page.extract_text() for page in reader.pages).replace(" ", "").replace("\n", "")


async def issued_letter(doc: DocTenant, make_client: ClientFactory) -> tuple[str, dict[str, Any]]:
    slug = doc.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.manager)
        record_id = await new_record(client, slug, csrf)
        issued = await client.post(
            records_url(slug, record_id, "documents"),
            json={"document": "letter"},
            headers={"X-CSRF-Token": csrf},
        )
    assert issued.status_code == 201, issued.text
    return record_id, issued.json()


async def test_a_letter_is_issued_signed_stored_and_verifies(
    app: Starlette, make_client: ClientFactory, doc: DocTenant
) -> None:
    slug = doc.tenant.slug
    record_id, letter = await issued_letter(doc, make_client)
    assert letter["kind"] == "letter" and letter["status"] == "valid"
    assert letter["number"].startswith("DBBH-") and len(letter["verify_token"]) >= 32
    async with make_client() as client:
        await sign_in(client, slug, doc.manager)
        url = records_url(slug, record_id, "documents", letter["id"], "pdf")
        signed = await client.get(url)
        rendered = await client.get(url, params={"variant": "rendered"})
        listed = (await client.get(records_url(slug, record_id, "documents"))).json()["items"]
    assert signed.status_code == 200 and signed.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(signed.content).hexdigest() == letter["signed_sha256"]
    assert hashlib.sha256(rendered.content).hexdigest() == letter["rendered_sha256"]
    assert [item["id"] for item in listed] == [letter["id"]]

    # The signature verifies against the tenant's root; one changed byte breaks it.
    report = await verify_pdf(signed.content, doc.seal.root_pem)
    assert report.ok and report.covers_whole_file and GUARANTOR in (report.signer or "")
    tampered = bytearray(signed.content)
    spot = signed.content.index(b"/Contents", len(signed.content) // 3) - 40
    tampered[spot] ^= 0x01
    assert not (await verify_pdf(bytes(tampered), doc.seal.root_pem)).ok

    text = flat_text(signed.content)
    assert "人民币叁佰万元整" in text and letter["number"] in text
    assert "/verify/" + letter["verify_token"][:10] in text
    assert VALID_ID not in text  # the letter template prints no ID number

    with tenant_scope(doc.tenant.context):
        async with in_transaction():
            actions = await AuditEvent.filter(object_id=letter["id"]).values_list(
                "action", flat=True
            )
    assert {"document.issued", "document.signed", "document.downloaded"} <= set(actions)


async def test_the_public_page_confirms_without_private_data(
    make_client: ClientFactory, doc: DocTenant
) -> None:
    slug = doc.tenant.slug
    record_id, letter = await issued_letter(doc, make_client)
    page_url = f"/t/{slug}/verify/{letter['verify_token']}"
    async with make_client() as client:
        page = await client.get(page_url)
        unknown = await client.get(f"/t/{slug}/verify/{'x' * 32}")
        await sign_in(client, slug, doc.manager)
        signed = (
            await client.get(records_url(slug, record_id, "documents", letter["id"], "pdf"))
        ).content
    assert page.status_code == 200 and unknown.status_code == 404
    html = page.text
    assert letter["number"] in html and GUARANTOR in html and 'data-status="valid"' in html
    assert "人民币叁佰万元整" in html and "中国银行福州分行" in html
    assert VALID["applicant_name"] not in html  # the debtor is masked
    assert VALID_ID not in html and VALID["contact_mobile"] not in html
    assert page.headers["cache-control"] == "no-store"

    async with make_client() as visitor:  # no session: a bank clerk with the PDF
        good = await visitor.post(page_url, files={"file": ("保函.pdf", signed, "application/pdf")})
        changed = signed.replace(b"%%EOF", b"%%EOF\n% appended", 1)
        bad = await visitor.post(page_url, files={"file": ("保函.pdf", changed, "application/pdf")})
    assert 'data-matches="yes"' in good.text and 'data-matches="no"' in bad.text

    with tenant_scope(doc.tenant.context):
        async with in_transaction():
            events = await AuditEvent.filter(
                object_id=letter["id"], action="document.verified"
            ).order_by("seq")
    assert [e.data.get("matches") for e in events] == [None, True, False]
    assert all(e.actor_kind == "anonymous" for e in events)
    assert all(set(e.data) <= {"via", "matches", "status"} for e in events)


async def test_a_revoked_letter_says_so(make_client: ClientFactory, doc: DocTenant) -> None:
    slug = doc.tenant.slug
    record_id, letter = await issued_letter(doc, make_client)
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.manager)
        url = records_url(slug, record_id, "documents", letter["id"], "status")
        refused = await client.post(url, json={"status": "gone"}, headers={"X-CSRF-Token": csrf})
        changed = await client.post(
            url, json={"status": "revoked", "reason": "银行退回"}, headers={"X-CSRF-Token": csrf}
        )
        page = await client.get(f"/t/{slug}/verify/{letter['verify_token']}")
    pointers = [d["pointer"] for d in refused.json()["error"]["details"]]
    assert refused.status_code == 422 and pointers == ["/status", "/reason"]
    assert changed.status_code == 200 and changed.json()["status"] == "revoked"
    assert 'data-status="revoked"' in page.text and "已撤销" in page.text


async def test_preview_contract_and_refusals(make_client: ClientFactory, doc: DocTenant) -> None:
    slug = doc.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.manager)
        record_id = await new_record(client, slug, csrf)
        base = records_url(slug, record_id, "document-previews")
        html = await client.get(base + "/contract")
        pdf = await client.get(base + "/contract", params={"format": "pdf"})
        missing = await client.get(base + "/receipt")
        contract = await client.post(
            records_url(slug, record_id, "documents"),
            json={"document": "contract"},
            headers={"X-CSRF-Token": csrf},
        )
        unknown = await client.post(
            records_url(slug, record_id, "documents"),
            json={"document": "receipt"},
            headers={"X-CSRF-Token": csrf},
        )
    assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]
    assert "人民币叁佰万元整" in html.text and "预览" in html.text
    assert pdf.status_code == 200 and "人民币叁佰万元整" in flat_text(pdf.content)
    assert missing.status_code == 404 and unknown.status_code == 404
    assert contract.status_code == 201 and contract.json()["verify_token"] is None
    assert contract.json()["number"].startswith("DBHT-")


async def test_another_tenant_or_scope_gets_404(
    make_client: ClientFactory, doc: DocTenant, tenants: dict[str, TenantFixture]
) -> None:
    slug = doc.tenant.slug
    record_id, letter = await issued_letter(doc, make_client)
    path = f"documents/{letter['id']}/pdf"
    beta = tenants["beta"]
    async with make_client() as client:
        await sign_in(client, "beta", beta.manager_email)  # may read beta's applications
        foreign = await client.get(records_url("beta", record_id, path))
        foreign_list = await client.get(records_url("beta", record_id, "documents"))
        foreign_verify = await client.get(f"/t/beta/verify/{letter['verify_token']}")
    other, _ = await new_user(doc.tenant, ["account_manager"])  # own scope: not this record
    async with make_client() as client:
        await sign_in(client, slug, other)
        out_of_scope = await client.get(records_url(slug, record_id, path))
    assert foreign.status_code == 404 and foreign_list.status_code == 404
    assert foreign_verify.status_code == 404 and out_of_scope.status_code == 404


async def test_a_template_naming_a_missing_field_is_refused_at_publish(
    make_client: ClientFactory, doc: DocTenant
) -> None:
    slug = doc.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.tenant.admin_email)
        files = (await client.get(f"/t/{slug}/api/definitions/versions/1")).json()["files"]
        files["templates/letter.html"] += "\n<p>{{ data.guarantee_fee | yuan }}</p>\n"
        refused = await client.post(
            f"/t/{slug}/api/definitions/versions",
            json={"files": files},
            headers={"X-CSRF-Token": csrf},
        )
    assert refused.status_code == 422
    details = refused.json()["error"]["details"]
    assert any(
        d["file"] == "templates/letter.html" and "'guarantee_fee' is not a field" in d["message"]
        for d in details
    ), details
    with tenant_scope(doc.tenant.context):
        async with in_transaction():
            assert await ProjectDocument.filter(kind="nothing").count() == 0


async def test_the_verification_page_on_a_phone(
    base_url: str, browser: Browser, make_client: ClientFactory, doc: DocTenant, tmp_path: Path
) -> None:
    slug = doc.tenant.slug
    record_id, letter = await issued_letter(doc, make_client)
    async with make_client() as client:
        await sign_in(client, slug, doc.manager)
        signed = (
            await client.get(records_url(slug, record_id, "documents", letter["id"], "pdf"))
        ).content
    copy = tmp_path / "保函.pdf"
    copy.write_bytes(signed)
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{slug}/verify/{letter['verify_token']}")
    await expect(page.locator("[role=status]")).to_contain_text("有效")
    await expect(page.locator("[data-field=number]")).to_have_text(letter["number"])
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.set_input_files("#pdf", str(copy))
    await page.click("button[type=submit]")
    await expect(page.locator("[data-matches]")).to_contain_text("一致")
    assert await page.locator("[data-matches]").get_attribute("data-matches") == "yes"
    await page.screenshot(path=str(tmp_path / "verify-phone.png"), full_page=True)
    await context.close()


async def test_the_staff_page_issues_and_lists(make_client: ClientFactory, doc: DocTenant) -> None:
    slug = doc.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.manager)
        record_id = await new_record(client, slug, csrf)
        url = f"/t/{slug}/forms/application/records/{record_id}/documents"
        before = await client.get(url)
        posted = await client.post(url, data={"csrf_token": csrf, "document": "letter"})
        after = await client.get(posted.headers["location"])
        record_page = await client.get(f"/t/{slug}/forms/application/records/{record_id}")
    assert before.status_code == 200 and "出具保函" in before.text and "尚未出具" in before.text
    assert posted.status_code == 303 and posted.headers["location"].endswith("?done=issued")
    assert "DBBH-" in after.text and f"/t/{slug}/verify/" in after.text
    assert f"{url}" in record_page.text


async def test_a_document_of_a_project_is_linked_and_prints_its_number(
    make_client: ClientFactory, doc: DocTenant
) -> None:
    """Issuing drives the project: refused before 签约中 (nothing issued, no number taken);
    the contract moves 签约中 → 已签约 and the letter 已签约 → 已出函 in the document's own
    transaction; revoking the letter moves back; the bare events are refused."""
    slug = doc.tenant.slug
    record_id = await submitted_record(make_client, doc.tenant, doc.manager)
    boss, _ = await new_user(doc.tenant, ["general_manager"])
    finance, _ = await new_user(doc.tenant, ["finance"])
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.manager)
        headers = {"X-CSRF-Token": csrf}
        project = await client.post(
            projects_url(slug), json={"record_id": record_id}, headers=headers
        )
        assert project.status_code == 201, project.text
        pid = project.json()["id"]
        early = await client.post(
            records_url(slug, record_id, "documents"),
            json={"document": "contract"},
            headers=headers,
        )
        assert early.status_code == 409, early.text
        error = early.json()["error"]
        assert error["code"] == "project_not_allowed"
        assert "sign_contract" in error["message"] and "DRAFT" in error["message"]
        assert (await client.get(records_url(slug, record_id, "documents"))).json()["items"] == []
    async with make_client() as client:
        csrf = await sign_in(client, slug, boss)
        await advance(client, csrf, doc.tenant, pid, record_id)
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.manager)
        headers = {"X-CSRF-Token": csrf}
        letter_first = await client.post(
            records_url(slug, record_id, "documents"), json={"document": "letter"}, headers=headers
        )
        assert letter_first.status_code == 403  # the account manager may not issue letters
        bare = await client.post(
            projects_url(slug, pid, "events", "sign_contract"),
            json={"version": 6},
            headers=headers,
        )
        assert bare.status_code == 409
        assert bare.json()["error"]["code"] == "project_event_has_its_route"
        issued = await client.post(
            records_url(slug, record_id, "documents"),
            json={"document": "contract"},
            headers=headers,
        )
        assert issued.status_code == 201, issued.text
        pdf = await client.get(
            records_url(slug, record_id, "documents", issued.json()["id"], "pdf")
        )
        contracted = (await client.get(projects_url(slug, pid))).json()
    assert issued.json()["project_id"] == pid
    assert "项目编号：" + project.json()["number"] in flat_text(pdf.content)
    assert contracted["state"]["code"] == "CONTRACTED" and contracted["version"] == 7

    async with make_client() as client:  # finance issues the letter without editing forms
        csrf = await sign_in(client, slug, finance)
        headers = {"X-CSRF-Token": csrf}
        letter = await client.post(
            records_url(slug, record_id, "documents"), json={"document": "letter"}, headers=headers
        )
        assert letter.status_code == 201, letter.text
        again = await client.post(
            records_url(slug, record_id, "documents"), json={"document": "letter"}, headers=headers
        )
        assert again.json()["error"]["code"] == "project_not_allowed"
        status_url = records_url(slug, record_id, "documents", letter.json()["id"], "status")
        released = await client.post(
            status_url, json={"status": "released", "reason": "手工"}, headers=headers
        )
        assert released.status_code == 409
        assert released.json()["error"]["code"] == "document_follows_project"
        issued_state = (await client.get(projects_url(slug, pid))).json()["state"]["code"]
        revoked = await client.post(
            status_url, json={"status": "revoked", "reason": "银行退回"}, headers=headers
        )
        assert revoked.status_code == 200, revoked.text
        after = (await client.get(projects_url(slug, pid))).json()
    assert issued_state == "LETTER_ISSUED"
    assert after["state"]["code"] == "CONTRACTED" and revoked.json()["status"] == "revoked"
    with tenant_scope(doc.tenant.context):
        async with in_transaction():
            moves = await AuditEvent.filter(action="project.transition", object_id=pid).order_by(
                "seq"
            )
            numbers = await ProjectDocument.filter(record_id=record_id).values_list(
                "number", flat=True
            )
    assert [m.data["event"] for m in moves][-3:] == [
        "sign_contract",
        "issue_letter",
        "revoke_letter",
    ]
    assert moves[-2].data["reason"].endswith(letter.json()["number"])
    assert len(numbers) == 2  # the refused issues took no number and left no row


async def test_a_document_is_refused_to_whom_its_fields_are_masked(
    make_client: ClientFactory, doc: DocTenant
) -> None:
    """finance sees the legal representative's ID number masked on the record: the
    contract prints it, so finance may neither preview nor download the contract; the
    letter prints no ID number and stays readable."""
    slug = doc.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, doc.manager)
        record_id = await new_record(client, slug, csrf)
        issued = {}
        for kind in ("contract", "letter"):
            answer = await client.post(
                records_url(slug, record_id, "documents"),
                json={"document": kind},
                headers={"X-CSRF-Token": csrf},
            )
            assert answer.status_code == 201, answer.text
            issued[kind] = answer.json()["id"]
        own = await client.get(records_url(slug, record_id, "documents", issued["contract"], "pdf"))
    assert VALID_ID in flat_text(own.content)  # the issuer may see it, and the contract has it
    finance, _ = await new_user(doc.tenant, ["finance"])
    async with make_client() as client:
        await sign_in(client, slug, finance)
        base = records_url(slug, record_id)
        preview = await client.get(f"{base}/document-previews/contract")
        contract = await client.get(f"{base}/documents/{issued['contract']}/pdf")
        letter = await client.get(f"{base}/documents/{issued['letter']}/pdf")
        letter_preview = await client.get(f"{base}/document-previews/letter")
    assert preview.status_code == 403 and contract.status_code == 403
    pointers = [d["pointer"] for d in contract.json()["error"]["details"]]
    assert pointers == ["/legal_rep_id_number"]
    assert VALID_ID not in preview.text + contract.text
    assert letter.status_code == 200 and letter_preview.status_code == 200
