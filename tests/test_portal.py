"""The customer portal on PostgreSQL (docs/portal.md): one-time codes through the messaging
plug-in (hashed, single use, five tries, expiry, limits per destination and address),
applicant sessions apart from staff ones, an application started, given its documents and
submitted, its project followed and its letter downloaded; and another applicant's ids are
404 on every route, with nothing changed."""

from __future__ import annotations

import dataclasses
import io
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pypdf
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import Applicant, AuditEvent, Project, Record, User
from danbao.definitions import BundleInvalid, load_bundle, validate_bundle_dict
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal
from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.plugins.tenant_config import configure
from danbao.portal.channel import shows_code
from danbao.provisioning import create_tenant
from danbao.services import Services
from danbao.tenancy.context import tenant_scope
from danbao.web.portal_endpoint import PORTAL_COOKIE

from .attachments_helpers import PDF
from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .portal_helpers import (
    application_form,
    challenge_of,
    contracted,
    enter_code,
    last_code,
    portal,
    portal_bundle,
    portal_sign_in,
    request_code,
)
from .projects_helpers import projects_url
from .records_helpers import new_user, records_url

GUARANTOR = "示例融资担保有限公司"


@dataclass(frozen=True)
class PortalTenant:
    tenant: TenantFixture
    staff: str  # decides reviews, fires every event, issues documents

    @property
    def slug(self) -> str:
        return self.tenant.slug


@pytest.fixture(scope="module")
async def pt(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> PortalTenant:
    """The starter template with its letter, a seal, and the sandbox messaging channel."""
    services: Services = app.state.services
    slug = f"pt{uuid.uuid4().hex[:8]}"
    bundle = portal_bundle(Path(tmp_path_factory.mktemp("bundle")) / "b")
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    fixture = TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")
    with tenant_scope(fixture.context):
        async with in_transaction():
            await configure(
                services.keys,
                LocalPadesSigner,
                settings=seal_settings(new_seal(GUARANTOR), GUARANTOR),
            )
            await configure(services.keys, SandboxMessaging, settings={"sender": "担保云"})
    staff, _ = await new_user(fixture, ["general_manager", "risk_officer"])
    return PortalTenant(fixture, staff)


def mobile() -> str:
    """A fresh, valid China Mobile number per test, so limits never meet across tests."""
    return f"139{uuid.uuid4().int % 10**8:08d}"


async def audit_actions(tenant: TenantFixture, object_id: str | None = None) -> list[str]:
    with tenant_scope(tenant.context):
        async with in_transaction():
            rows = AuditEvent.filter(object_id=object_id) if object_id else AuditEvent.all()
            return [row.action for row in await rows.order_by("seq")]


# --- signing in -----------------------------------------------------------------------


async def test_a_code_goes_through_the_messaging_plugin_and_signs_in(
    make_client: ClientFactory, pt: PortalTenant, pg_owner: asyncpg.Connection
) -> None:
    number = mobile()
    async with make_client() as client:
        sent = await request_code(client, pt.slug, f" {number[:3]} {number[3:7]} {number[7:]} ")
        assert sent.status_code == 200, sent.text
        masked = f"{number[:3]}****{number[-4:]}"
        assert masked in sent.text and number not in sent.text
        # PostgreSQL is the production mode: the code is never printed on the page.
        assert "data-demo-code" not in sent.text
        code = last_code(number)
        assert code not in sent.text
        done = await enter_code(client, pt.slug, challenge_of(sent), code)
        assert done.status_code == 303 and done.headers["location"].endswith("/portal/")
        home = await client.get(portal(pt.slug, ""))
        assert home.status_code == 200 and "我的业务" in home.text
        english = await client.get(portal(pt.slug, ""), params={"lang": "en"})
        assert "My applications" in english.text and "Sign out" in english.text
    # Neither the number nor the code is kept in clear; the owner identity signs in nowhere.
    codes = await pg_owner.fetch(
        "SELECT code_hash, destination_sealed FROM applicant_code WHERE tenant_id = $1",
        pt.tenant.id,
    )
    assert codes and all(code not in r["code_hash"] for r in codes)
    assert all(r["destination_sealed"].startswith("enc:v1:") for r in codes)
    dump = await pg_owner.fetch("SELECT * FROM applicant WHERE tenant_id = $1", pt.tenant.id)
    assert dump and not any(number in str(dict(r)) for r in dump)
    with tenant_scope(pt.tenant.context):
        async with in_transaction():
            owner = await User.get(id=dump[0]["user_id"])
    assert not owner.is_active and owner.roles == [] and owner.email.endswith("@portal.invalid")
    actions = await audit_actions(pt.tenant)
    assert {"portal.code_sent", "portal.applicant_created", "portal.sign_in"} <= set(actions)
    assert "plugin.called" in actions
    async with make_client() as client:  # the owner identity has no password at all
        refused = await client.post(
            f"/t/{pt.slug}/api/session",
            json={"email": owner.email, "password": "!portal-applicant"},
        )
    assert refused.status_code == 401


async def test_a_code_is_used_once_tried_five_times_and_expires(
    make_client: ClientFactory, pt: PortalTenant, pg_owner: asyncpg.Connection
) -> None:
    number = mobile()
    async with make_client() as client:
        sent = await request_code(client, pt.slug, number)
        challenge, code = challenge_of(sent), last_code(number)
        wrong = "000000" if code != "000000" else "111111"
        for attempt in range(4):
            refused = await enter_code(client, pt.slug, challenge, wrong)
            assert refused.status_code == 401, attempt
            assert "验证码不正确" in refused.text
        fifth = await enter_code(client, pt.slug, challenge, wrong)
        assert fifth.status_code == 410 and "输错次数过多" in fifth.text
        # Exhausted: even the right code no longer signs in.
        late = await enter_code(client, pt.slug, challenge, code)
        assert late.status_code == 410 and not client.cookies.get(PORTAL_COOKIE)
    await pg_owner.execute(
        "UPDATE applicant_code SET created_at = created_at - interval '2 minutes' "
        "WHERE tenant_id = $1",
        pt.tenant.id,
    )
    async with make_client() as client:
        sent = await request_code(client, pt.slug, number)
        challenge, code = challenge_of(sent), last_code(number)
        assert (await enter_code(client, pt.slug, challenge, code)).status_code == 303
    async with make_client() as client:  # used once: a replay is refused
        await client.get(portal(pt.slug, "login"))
        replay = await enter_code(client, pt.slug, challenge, code)
        assert replay.status_code == 401 and not client.cookies.get(PORTAL_COOKIE)
    await pg_owner.execute(
        "UPDATE applicant_code SET created_at = created_at - interval '2 minutes' "
        "WHERE tenant_id = $1",
        pt.tenant.id,
    )
    async with make_client() as client:
        sent = await request_code(client, pt.slug, number)
        challenge, code = challenge_of(sent), last_code(number)
        await pg_owner.execute(
            "UPDATE applicant_code SET expires_at = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(challenge),
        )
        expired = await enter_code(client, pt.slug, challenge, code)
        assert expired.status_code == 410 and "已过期" in expired.text
    assert "portal.sign_in_failed" in await audit_actions(pt.tenant)


async def test_codes_are_limited_per_destination_and_per_address(
    make_client: ClientFactory, pt: PortalTenant, pg_owner: asyncpg.Connection
) -> None:
    number = mobile()
    async with make_client() as client:
        assert (await request_code(client, pt.slug, number)).status_code == 200
        again = await request_code(client, pt.slug, number)
        assert again.status_code == 429 and int(again.headers["Retry-After"]) <= 60
        assert "过于频繁" in again.text
    # Twenty codes from one address within the hour: the next is refused, whoever it is for.
    marker = f"pt-flood-{uuid.uuid4().hex[:6]}"
    await pg_owner.executemany(
        "INSERT INTO applicant_code (id, tenant_id, destination_hash, destination_sealed, channel,"
        " code_hash, attempts, expires_at, created_at, ip) VALUES ($1, $2, $3, 'x', 'mobile', 'x',"
        " 0, now(), now(), '127.0.0.1')",
        [(uuid.uuid4(), pt.tenant.id, f"{marker}-{i}") for i in range(20)],
    )
    try:
        async with make_client() as client:
            flooded = await request_code(client, pt.slug, mobile())
        assert flooded.status_code == 429
    finally:
        await pg_owner.execute(
            "DELETE FROM applicant_code WHERE destination_hash LIKE $1", f"{marker}-%"
        )
    assert "portal.code_throttled" in await audit_actions(pt.tenant)
    async with make_client() as client:
        bad = await request_code(client, pt.slug, "12345")
        assert bad.status_code == 422 and "手机号或电子邮箱" in bad.text


async def test_staff_and_applicant_sessions_never_cross(
    make_client: ClientFactory, pt: PortalTenant
) -> None:
    async with make_client() as client:
        await portal_sign_in(client, pt.slug, mobile())
        token = client.cookies.get(PORTAL_COOKIE)
        assert token
    async with make_client() as client:
        # The portal cookie, sent to staff routes whatever its path: nobody there.
        client.cookies.set("danbao_session", token)
        client.cookies.set(PORTAL_COOKIE, token)
        assert (await client.get(f"/t/{pt.slug}/api/me")).status_code == 401
        staff_home = await client.get(f"/t/{pt.slug}/")
        assert staff_home.status_code == 303 and staff_home.headers["location"].endswith("/login")
    async with make_client() as client:
        # A staff session grants nothing in the portal.
        await sign_in(client, pt.slug, pt.staff)
        home = await client.get(portal(pt.slug, ""))
        assert home.status_code == 303 and home.headers["location"].endswith("/portal/login")
        api = await client.get(portal(pt.slug, "api", "attachments", str(uuid.uuid4())))
        assert api.status_code == 401
    async with make_client() as client:  # an unsafe request without the session's token
        await portal_sign_in(client, pt.slug, mobile())
        forged = await client.post(portal(pt.slug, "apply"), data={"amount": "1"})
        assert forged.status_code == 403


# --- applying, following, downloading --------------------------------------------------


async def test_apply_upload_submit_follow_and_download(
    make_client: ClientFactory, pt: PortalTenant, pg_owner: asyncpg.Connection
) -> None:
    slug, number = pt.slug, mobile()
    async with make_client() as client:
        csrf = await portal_sign_in(client, slug, number)
        page = await client.get(portal(slug, "apply"))
        assert page.status_code == 200 and 'name="applicant_name"' in page.text
        # An internal field stays out of the applicant's form (the applicant role hides it).
        assert 'name="account_manager"' not in page.text
        uploaded = await client.post(
            portal(slug, "api", "forms", "application", "attachments", "business_licence"),
            files={"file": ("执照.pdf", PDF, "application/pdf")},
            headers={"X-CSRF-Token": csrf},
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uploaded.json()["items"][0]["id"]
        saved = await client.post(
            portal(slug, "apply"),
            data=application_form(csrf, action="save", business_licence=file_id),
        )
        assert saved.status_code == 303, saved.text
        record_id = saved.headers["location"].split("/")[-1].split("?")[0]
        draft = await client.get(saved.headers["location"])
        assert "执照.pdf" in draft.text and "已保存" in draft.text
        listed = await client.get(portal(slug, ""))
        assert "填写中，尚未提交" in listed.text and record_id in listed.text
        submitted = await client.post(
            portal(slug, "applications", record_id),
            data=application_form(csrf, action="submit", business_licence=file_id),
        )
        assert submitted.status_code == 303, submitted.text
        project_url = submitted.headers["location"]
        assert "/portal/projects/" in project_url
        project_id = project_url.split("/")[-1].split("?")[0]
        shown = await client.get(project_url)
        assert shown.status_code == 200 and "已提交，等待受理" in shown.text
        assert 'data-step="apply" data-status="done"' in shown.text
        download = await client.get(portal(slug, "api", "attachments", file_id))
        assert download.status_code == 200 and download.content == PDF
    with tenant_scope(pt.tenant.context):
        async with in_transaction():
            record = await Record.get(id=record_id)
            project = await Project.get(id=project_id)
            applicant = await Applicant.get(user_id=record.created_by)
            events = await AuditEvent.filter(object_id=record_id).order_by("seq")
    assert record.status == "submitted" and project.state == "DRAFT"
    assert {e.action for e in events} >= {
        "record.created",
        "record.submitted",
        "portal.application_submitted",
    }
    assert all(e.actor_kind == "applicant" and e.actor_id == str(applicant.id) for e in events)
    uploads = await audit_actions(pt.tenant, file_id)
    assert "attachment.uploaded" in uploads and "attachment.linked" in uploads

    # The guarantor accepts and starts due diligence; the applicant sees where it stands.
    async with make_client() as staff:
        headers = {"X-CSRF-Token": await sign_in(staff, slug, pt.staff)}
        for event, version in (("accept", 1), ("start_due_diligence", 2)):
            moved = await staff.post(
                projects_url(slug, project_id, "events", event),
                json={"version": version, "reason": "内部意见：资料齐全"},
                headers=headers,
            )
            assert moved.status_code == 200, moved.text
    await pg_owner.execute(  # past the one-code-a-minute limit
        "UPDATE applicant_code SET created_at = created_at - interval '2 minutes' "
        "WHERE tenant_id = $1",
        pt.tenant.id,
    )
    async with make_client() as client:
        # The same applicant comes back another day: the same identity, the same projects.
        await portal_sign_in(client, slug, number)
        shown = await client.get(portal(slug, "projects", project_id))
        assert "尽职调查中" in shown.text and "内部意见" not in shown.text
        assert shown.text.count('data-moment="transition"') == 2
        # Reviewed, approved and contracted (elsewhere); the letter is issued.
        await contracted(pg_owner, project_id)
        async with make_client() as staff:
            headers = {"X-CSRF-Token": await sign_in(staff, slug, pt.staff)}
            issued = await staff.post(
                records_url(slug, record_id, "documents"),
                json={"document": "letter"},
                headers=headers,
            )
        assert issued.status_code == 201, issued.text
        letter = issued.json()
        shown = await client.get(portal(slug, "projects", project_id))
        assert "保函已出具，等待银行放款" in shown.text and letter["number"] in shown.text
        pdf = await client.get(
            portal(slug, "projects", project_id, "documents", letter["id"], "pdf")
        )
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        # The bank lends, the borrower repays part: the applicant downloads its receipt.
        async with make_client() as staff:
            headers = {"X-CSRF-Token": await sign_in(staff, slug, pt.staff)}
            version = (await staff.get(projects_url(slug, project_id))).json()["version"]
            lent = await staff.post(
                projects_url(slug, project_id, "loan"),
                json={
                    "version": version,
                    "disbursed_on": "2026-11-01",
                    "amount": "3000000.00",
                    "bank_reference": "FK-001",
                    "method": "equal_principal",
                },
                headers=headers,
            )
            assert lent.status_code in (200, 201), lent.text
            paid = await staff.post(
                projects_url(slug, project_id, "loan", "repayments"),
                json={"paid_on": "2026-11-20", "principal": "500000.00", "interest": "12000.00"},
                headers=headers,
            )
            assert paid.status_code in (200, 201), paid.text
        shown = await client.get(portal(slug, "projects", project_id))
        assert "担保生效中" in shown.text and "还款 ¥512,000.00" in shown.text
        link = re.search(r'href="([^"]+/receipt)"', shown.text)
        assert link, shown.text
        receipt = await client.get(link.group(1))
        assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
        pages = pypdf.PdfReader(io.BytesIO(receipt.content)).pages
        text = "".join("".join(p.extract_text().split()) for p in pages)
        assert "还款回执" in text and "人民币伍拾壹万贰仟元整" in text and "¥2,500,000.00" in text
    assert "document.downloaded" in await audit_actions(pt.tenant, letter["id"])


def test_only_a_sandbox_channel_in_the_embedded_mode_shows_the_code(app: Starlette) -> None:
    settings = app.state.services.settings
    assert settings.mode == "production" and not shows_code(settings, "sandbox.messaging")
    embedded = dataclasses.replace(settings, database_url="sqlite://x.sqlite3")
    assert embedded.mode == "embedded"
    assert shows_code(embedded, "sandbox.messaging") and not shows_code(embedded, "email.smtp")


async def test_another_applicants_ids_are_404_on_every_route_and_change_nothing(
    make_client: ClientFactory, pt: PortalTenant
) -> None:
    slug = pt.slug
    async with make_client() as owner:
        csrf = await portal_sign_in(owner, slug, mobile())
        up = await owner.post(
            portal(slug, "api", "forms", "application", "attachments", "business_licence"),
            files={"file": ("a.pdf", PDF, "application/pdf")},
            headers={"X-CSRF-Token": csrf},
        )
        linked = up.json()["items"][0]["id"]
        pending = (
            await owner.post(
                portal(slug, "api", "forms", "application", "attachments", "business_licence"),
                files={"file": ("b.pdf", PDF, "application/pdf")},
                headers={"X-CSRF-Token": csrf},
            )
        ).json()["items"][0]["id"]
        draft = await owner.post(
            portal(slug, "apply"),
            data=application_form(csrf, action="save", business_licence=linked),
        )
        draft_id = draft.headers["location"].split("/")[-1].split("?")[0]
        other = await owner.post(
            portal(slug, "apply"), data=application_form(csrf, action="submit")
        )
        project_id = other.headers["location"].split("/")[-1].split("?")[0]
    with tenant_scope(pt.tenant.context):
        async with in_transaction():
            before = await Record.get(id=draft_id)
            count = await AuditEvent.all().count()
    fake = str(uuid.uuid4())
    async with make_client() as stranger:
        csrf = await portal_sign_in(stranger, slug, mobile())
        with tenant_scope(pt.tenant.context):
            async with in_transaction():
                count = await AuditEvent.all().count()
        tries = [
            ("GET", portal(slug, "applications", draft_id), None),
            (
                "POST",
                portal(slug, "applications", draft_id),
                application_form(csrf, action="save", applicant_name="篡改"),
            ),
            (
                "POST",
                portal(slug, "applications", draft_id),
                application_form(csrf, action="submit"),
            ),
            ("GET", portal(slug, "projects", project_id), None),
            ("GET", portal(slug, "projects", project_id, "documents", fake, "pdf"), None),
            ("GET", portal(slug, "projects", project_id, "repayments", fake, "receipt"), None),
            ("GET", portal(slug, "api", "attachments", linked), None),
            ("GET", portal(slug, "api", "attachments", pending), None),
            ("GET", portal(slug, "applications", "not-a-uuid"), None),
            ("GET", portal(slug, "projects", fake), None),
        ]
        for method, url, data in tries:
            answer = await stranger.request(method, url, data=data)
            assert answer.status_code == 404, (method, url, answer.status_code)
            assert "篡改" not in answer.text
        # The stranger's own draft cannot take the owner's pending upload either.
        taken = await stranger.post(
            portal(slug, "apply"),
            data=application_form(csrf, action="save", business_licence=pending),
        )
        assert taken.status_code == 422
        mine = await stranger.get(portal(slug, ""))
        assert draft_id not in mine.text and project_id not in mine.text
    with tenant_scope(pt.tenant.context):
        async with in_transaction():
            after = await Record.get(id=draft_id)
            new_events = await AuditEvent.all().order_by("-seq").limit(5)
    assert (after.revision, after.status, after.data) == (
        before.revision,
        before.status,
        before.data,
    )
    assert not any(e.object_id == draft_id for e in new_events)
    assert count > 0


def test_the_portal_section_is_checked_at_publish() -> None:
    files = load_bundle(TEMPLATE).to_dict()
    tenant = files["tenant.json"]
    tenant["portal"] = {"form": "application", "fields": {"nope": "hidden", "amount": "readonly"}}
    with pytest.raises(BundleInvalid) as refused:
        validate_bundle_dict(files)
    assert [(e.file, e.pointer) for e in refused.value.errors] == [
        ("tenant.json", "/portal/fields/nope")
    ]
    tenant["portal"] = {"form": "missing"}
    with pytest.raises(BundleInvalid) as refused:
        validate_bundle_dict(files)
    assert "no form 'missing'" in str(refused.value)
    tenant["portal"] = {"form": "application", "fields": {"amount": "writable"}}
    with pytest.raises(BundleInvalid) as refused:  # the meta-schema: hidden or readonly only
        validate_bundle_dict(files)
    assert refused.value.errors[0].pointer == "/portal/fields/amount"


async def test_owner_identities_stay_out_of_staff_lists_and_pickers(
    make_client: ClientFactory, pt: PortalTenant
) -> None:
    async with make_client() as client:
        await portal_sign_in(client, pt.slug, mobile())
        refused = await request_code(client, pt.slug, "someone@portal.invalid")
        assert refused.status_code == 422
    manager, _ = await new_user(pt.tenant, ["account_manager"])
    async with make_client() as admin:
        headers = {"X-CSRF-Token": await sign_in(admin, pt.slug, pt.tenant.admin_email)}
        listed = (await admin.get(f"/t/{pt.slug}/api/users?per_page=200")).json()
        assert listed["items"] and not any(
            u["email"].endswith("@portal.invalid") for u in listed["items"]
        )
        assert listed["total"] == len(listed["items"])
        page = await admin.get(f"/t/{pt.slug}/admin/users")
        assert page.status_code == 200 and "portal.invalid" not in page.text
        made = await admin.post(
            f"/t/{pt.slug}/api/users",
            json={"email": "x@portal.invalid", "name": "冒名", "password": PASSWORD, "roles": []},
            headers=headers,
        )
        assert made.status_code == 422 and made.json()["error"]["details"][0]["pointer"] == "/email"
    async with make_client() as staff:
        await sign_in(staff, pt.slug, manager)
        form = await staff.get(f"/t/{pt.slug}/forms/application/new")
        assert form.status_code == 200 and 'name="account_manager"' in form.text
        assert "门户客户" not in form.text


async def test_a_destinations_day_old_codes_go_with_its_next_request(
    make_client: ClientFactory, pt: PortalTenant, pg_owner: asyncpg.Connection
) -> None:
    number = mobile()
    async with make_client() as client:
        old = challenge_of(await request_code(client, pt.slug, number))
        await pg_owner.execute(
            "UPDATE applicant_code SET created_at = now() - interval '2 days' WHERE id = $1",
            uuid.UUID(old),
        )
        new = challenge_of(await request_code(client, pt.slug, number))
    rows = await pg_owner.fetch(
        "SELECT id FROM applicant_code WHERE id = ANY($1::uuid[])", [uuid.UUID(old), uuid.UUID(new)]
    )
    assert [str(r["id"]) for r in rows] == [new]
