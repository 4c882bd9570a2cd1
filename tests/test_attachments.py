"""Attachments through the HTTP API on PostgreSQL, with local storage and with S3 (moto):
upload with limits enforced while reading, references in records, downloads authorised
like the record, the walls between tenants and users, and the purge job."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.config import S3Settings, Settings
from danbao.db.models import Attachment, AuditEvent, Record, StoredFile
from danbao.definitions import BundleInvalid, validate_bundle_dict
from danbao.ids import new_id
from danbao.jobs.registry import run_job
from danbao.records.attachment_purge import JOB
from danbao.services import Services
from danbao.storage import LocalStore, ObjectStore, S3Store
from danbao.tenancy.context import tenant_scope

from .attachments_helpers import (
    CSV_GB18030,
    EXE,
    HTML,
    LICENCE,
    LICENCE_MAX,
    PDF,
    PNG,
    STATEMENTS,
    AttachTenant,
    attachment_bundle,
    file_url,
    make_attach_tenant,
    stored_counts,
    upload,
    upload_url,
    xlsx_bytes,
)
from .conftest import REDIS_URL, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, records_url


@pytest.fixture(scope="module")
async def att(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> AttachTenant:
    return await make_attach_tenant(Path(tmp_path_factory.mktemp("bundle")) / "b")


@pytest.fixture(scope="module")
async def att2(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> AttachTenant:
    return await make_attach_tenant(Path(tmp_path_factory.mktemp("bundle2")) / "b")


def services(app: Starlette) -> Services:
    found: Services = app.state.services
    return found


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, app: Starlette) -> AsyncIterator[ObjectStore]:
    """The app's object store for the test: its local directory, or S3 on moto_server."""
    if request.param == "local":
        yield services(app).store
        return
    s3 = S3Store(
        S3Settings(
            bucket=f"danbao-att-{uuid.uuid4().hex[:12]}",
            endpoint_url=request.getfixturevalue("moto_endpoint"),
            region="cn-north-1",
            access_key_id="testing",
            secret_access_key="testing",
        )
    )
    await s3.ensure_bucket()
    original = services(app).store
    services(app).store = s3
    try:
        yield s3
    finally:
        services(app).store = original


async def objects(store: ObjectStore, tenant: TenantFixture) -> list[str]:
    with tenant_scope(tenant.context):
        return await store.list("attachments/")


async def actions_of(tenant: TenantFixture, object_id: str) -> list[str]:
    with tenant_scope(tenant.context):
        async with in_transaction():
            events = await AuditEvent.filter(object_id=object_id).order_by("seq")
    return [e.action for e in events]


async def test_upload_link_download(
    make_client: ClientFactory, att: AttachTenant, store: ObjectStore
) -> None:
    slug = att.tenant.slug
    name = "营业执照（副本）.pdf"
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        uploaded = await upload(client, csrf, slug, LICENCE, (name, PDF))
        assert uploaded.status_code == 201, uploaded.text
        (ref,) = uploaded.json()["items"]
        assert ref == {
            "id": ref["id"],
            "name": name,
            "size": len(PDF),
            "content_type": "application/pdf",
            "sha256": hashlib.sha256(PDF).hexdigest(),
        }
        assert await objects(store, att.tenant) == [f"attachments/{ref['id']}"]

        # The record takes the id; name, size and hash come from the table, not the caller.
        created = await client.post(
            records_url(slug),
            json={"data": {**VALID, LICENCE: [{"id": ref["id"], "name": "forged.exe"}]}},
            headers={"X-CSRF-Token": csrf},
        )
        assert created.status_code == 201, created.text
        assert created.json()["data"][LICENCE] == [ref]

        got = await client.get(file_url(slug, ref["id"]))
        assert got.status_code == 200, got.text
        assert got.content == PDF
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"] == (
            f"attachment; filename=\"{'_' * 8}.pdf\"; filename*=UTF-8''{quote(name, safe='')}"
        )
    # The record holds the reference only: no bytes, no base64.
    with tenant_scope(att.tenant.context):
        async with in_transaction():
            record = await Record.get(id=created.json()["id"])
            row = await Attachment.get(id=ref["id"])
    assert record.data[LICENCE] == [ref]
    assert row.record_id == record.id and row.expires_at is None
    assert await actions_of(att.tenant, ref["id"]) == [
        "attachment.uploaded",
        "attachment.linked",
        "attachment.downloaded",
    ]


async def test_limits_refuse_and_keep_nothing(
    make_client: ClientFactory, att: AttachTenant, store: ObjectStore
) -> None:
    slug = att.tenant.slug
    before = (await stored_counts(att.tenant), await objects(store, att.tenant))
    too_big = PDF + b"0" * LICENCE_MAX
    refusals = [
        (LICENCE, [("大文件.pdf", too_big)], 413, "0.01 MB"),
        (LICENCE, [("伪装.pdf", EXE)], 422, "伪装.pdf"),  # an executable renamed
        (LICENCE, [("scan.exe", EXE)], 422, "pdf, jpg, png"),  # an extension not accepted
        (LICENCE, [("a.png", PNG), ("b.png", PNG)], 422, "最多1个文件"),
        (LICENCE, [("empty.pdf", b"")], 422, "空文件"),
        (STATEMENTS, [("report.csv", HTML)], 422, "report.csv"),  # a page posing as CSV
        (STATEMENTS, [("a.pdf", PDF)] * 4, 422, "最多3个文件"),
    ]
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        for field, files, status, says in refusals:
            refused = await upload(client, csrf, slug, field, *files)
            assert refused.status_code == status, (files[0][0], refused.text)
            (detail,) = refused.json()["error"]["details"]
            assert detail["pointer"] == f"/{field}"
            assert says in detail["message"], detail["message"]
        nothing = await client.post(
            upload_url(slug, LICENCE),
            files={"other": ("a.pdf", PDF)},
            headers={"X-CSRF-Token": csrf},
        )
        assert nothing.status_code == 422
        english = await client.post(
            upload_url(slug, LICENCE) + "?lang=en",
            files={"file": ("big.pdf", too_big)},
            headers={"X-CSRF-Token": csrf},
        )
        assert "“big.pdf” is larger than the 0.01 MB limit" in english.text
        not_multipart = await client.post(
            upload_url(slug, LICENCE), content=PDF, headers={"X-CSRF-Token": csrf}
        )
        assert not_multipart.status_code == 400
        # What each field accepts, by content too: a GB18030 CSV and an XLSX are fine.
        fine = await upload(
            client, csrf, slug, STATEMENTS, ("报表.csv", CSV_GB18030), ("报表.xlsx", xlsx_bytes())
        )
        assert fine.status_code == 201, fine.text
        assert [i["content_type"] for i in fine.json()["items"]] == [
            "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ]
    rows, files = before[0]
    assert await stored_counts(att.tenant) == (rows + 2, files + 2)
    assert len(await objects(store, att.tenant)) == len(before[1]) + 2


async def test_the_size_limit_stops_the_read(make_client: ClientFactory, att: AttachTenant) -> None:
    """An oversized file is refused while it streams in, long before its end arrives."""
    slug = att.tenant.slug
    sent = 0
    boundary = "danbao-test-boundary"

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        for _ in range(1000):  # 64 MiB if it were all read
            sent += 1
            yield b"%PDF" + b"0" * (64 * 1024 - 4)
        yield f"\r\n--{boundary}--\r\n".encode()

    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        refused = await client.post(
            upload_url(slug, LICENCE),
            content=body(),
            headers={
                "X-CSRF-Token": csrf,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
    assert refused.status_code == 413
    assert sent < 10, sent


async def test_references_that_are_not_the_callers(
    make_client: ClientFactory, att: AttachTenant, att2: AttachTenant
) -> None:
    slug = att.tenant.slug
    async with make_client() as client:
        csrf2 = await sign_in(client, att2.tenant.slug, att2.manager)
        foreign = (await upload(client, csrf2, att2.tenant.slug, LICENCE, ("x.pdf", PDF))).json()
    async with make_client() as client:
        other_csrf = await sign_in(client, slug, att.manager2)
        others = (await upload(client, other_csrf, slug, LICENCE, ("y.pdf", PDF))).json()
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        statement = (await upload(client, csrf, slug, STATEMENTS, ("s.pdf", PDF))).json()
        expired = (await upload(client, csrf, slug, LICENCE, ("old.pdf", PDF))).json()
        with tenant_scope(att.tenant.context):
            async with in_transaction():
                await Attachment.filter(id=expired["items"][0]["id"]).update(
                    expires_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
                )
        before = await stored_counts(att.tenant)
        cases = {
            "another tenant's": foreign["items"][0]["id"],
            "another user's": others["items"][0]["id"],
            "another field's": statement["items"][0]["id"],
            "an expired": expired["items"][0]["id"],
            "an unknown": str(uuid.uuid4()),
        }
        for what, attachment_id in cases.items():
            refused = await client.post(
                records_url(slug),
                json={"data": {**VALID, LICENCE: [{"id": attachment_id}]}},
                headers={"X-CSRF-Token": csrf},
            )
            assert refused.status_code == 422, what
            assert refused.json()["error"]["details"] == [
                {
                    "pointer": f"/{LICENCE}/0",
                    "message": "营业执照扫描件：附件不存在、已过期或不属于此字段",
                }
            ], what
        shaped = await client.post(
            records_url(slug),
            json={"data": {**VALID, STATEMENTS: [42], "amount": "many"}},
            headers={"X-CSRF-Token": csrf},
        )
        pointers = [d["pointer"] for d in shaped.json()["error"]["details"]]
        assert shaped.status_code == 422 and pointers == ["/amount", f"/{STATEMENTS}/0"]
    assert await stored_counts(att.tenant) == before
    with tenant_scope(att.tenant.context):
        async with in_transaction():
            linked = await Attachment.filter(
                id__in=list(cases.values()), record_id__not_isnull=True
            )
    assert linked == []


async def _record_with_files(make_client: ClientFactory, att: AttachTenant) -> tuple[str, str, str]:
    """A draft of ``att.manager`` holding a licence and a statement: (record, lic, stmt)."""
    slug = att.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        licence = (await upload(client, csrf, slug, LICENCE, ("执照.png", PNG))).json()["items"]
        statement = (await upload(client, csrf, slug, STATEMENTS, ("表.pdf", PDF))).json()["items"]
        created = await client.post(
            records_url(slug),
            json={"data": {**VALID, LICENCE: licence, STATEMENTS: statement}},
            headers={"X-CSRF-Token": csrf},
        )
    assert created.status_code == 201, created.text
    return created.json()["id"], licence[0]["id"], statement[0]["id"]


async def test_downloads_are_authorised_like_the_record(
    make_client: ClientFactory, att: AttachTenant, att2: AttachTenant, store: ObjectStore
) -> None:
    slug = att.tenant.slug
    _, licence, statement = await _record_with_files(make_client, att)
    expected = {
        att.manager: (200, 200),  # the owner
        att.manager2: (404, 404),  # own scope: not their record
        att.risk: (200, 200),  # every record
        att.committee: (403, 200),  # the licence field is hidden for them
        att.legal: (200, 403),  # the statements field is masked for them
        att.tenant.admin_email: (403, 403),  # no read on the form at all
    }
    for email, (for_licence, for_statement) in expected.items():
        async with make_client() as client:
            await sign_in(client, slug, email)
            got = (
                (await client.get(file_url(slug, licence))).status_code,
                (await client.get(file_url(slug, statement))).status_code,
            )
        assert got == (for_licence, for_statement), email
    # Another tenant's users: their session is not one here, and the id is not theirs there.
    async with make_client() as client:
        await sign_in(client, att2.tenant.slug, att2.risk)
        assert (await client.get(file_url(slug, licence))).status_code == 401
        assert (await client.get(file_url(att2.tenant.slug, licence))).status_code == 404
    # A pending upload is its uploader's alone.
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        pending = (await upload(client, csrf, slug, LICENCE, ("p.pdf", PDF))).json()["items"][0]
        assert (await client.get(file_url(slug, pending["id"]))).status_code == 200
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.risk)
        assert (await client.get(file_url(slug, pending["id"]))).status_code == 404
        withdrawn = await client.delete(
            file_url(slug, pending["id"]), headers={"X-CSRF-Token": csrf}
        )
        assert withdrawn.status_code == 404
    assert "authz.denied" in await actions_of(att.tenant, licence)


async def test_remove_withdraw_and_purge(
    make_client: ClientFactory,
    att: AttachTenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    app: Starlette,
) -> None:
    slug = att.tenant.slug
    store = services(app).store
    assert isinstance(store, LocalStore)  # the purge job opens the store of the settings
    record_id, licence, statement = await _record_with_files(make_client, att)
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        shown = (await client.get(records_url(slug, record_id))).json()
        # Dropping the licence from the draft retires it at once.
        saved = await client.patch(
            records_url(slug, record_id),
            json={"data": {LICENCE: None}, "version": shown["revision"]},
            headers={"X-CSRF-Token": csrf},
        )
        assert saved.status_code == 200, saved.text
        assert LICENCE not in saved.json()["data"]
        assert (await client.get(file_url(slug, licence))).status_code == 404
        # A linked attachment cannot be withdrawn behind its record's back.
        token = {"X-CSRF-Token": csrf}
        assert (await client.delete(file_url(slug, statement), headers=token)).status_code == 409
        pending = (await upload(client, csrf, slug, LICENCE, ("w.pdf", PDF))).json()["items"][0]
        assert (
            await client.delete(file_url(slug, pending["id"]), headers=token)
        ).status_code == 204
        assert (await client.get(file_url(slug, pending["id"]))).status_code == 404
    # An object whose upload never committed, two hours old by its UUIDv7 id.
    stale = new_id()
    old_ms = int((datetime.datetime.now(datetime.UTC).timestamp() - 7200) * 1000)
    orphan = uuid.UUID(int=(old_ms << 80) | (stale.int & ((1 << 80) - 1)))
    fresh = new_id()
    with tenant_scope(att.tenant.context):
        await store.put(f"attachments/{orphan}", b"lost", "application/pdf")
        await store.put(f"attachments/{fresh}", b"in flight", "application/pdf")

    # The uploads enqueued the tenant's purge of this hour on the app's arq queue.
    hour = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H")
    job_key = f"{att.tenant.id}:{JOB}:{hour}"
    redis = Redis.from_url(REDIS_URL)
    try:
        assert await redis.exists(f"arq:job:{job_key}", f"arq:result:{job_key}")
    finally:
        await redis.aclose()

    monkeypatch.setenv("DANBAO_VAR_DIR", str(settings.var_dir))
    report = await run_job(JOB, str(att.tenant.id), slug, {})
    assert report["removed"] >= 2 and report["orphans"] >= 1

    left = await objects(store, att.tenant)
    for gone in (licence, pending["id"], str(orphan)):
        assert f"attachments/{gone}" not in left
    assert f"attachments/{statement}" in left and f"attachments/{fresh}" in left
    with tenant_scope(att.tenant.context):
        async with in_transaction():
            assert not await Attachment.filter(id__in=[licence, pending["id"]]).exists()
            assert not await StoredFile.filter(key=f"attachments/{licence}").exists()
            assert await Attachment.filter(id=statement, record_id=record_id).exists()
    assert await actions_of(att.tenant, licence) == [
        "attachment.uploaded",
        "attachment.linked",
        "attachment.deleted",
        "attachment.purged",
    ]
    assert await actions_of(att.tenant, pending["id"]) == [
        "attachment.uploaded",
        "attachment.deleted",
        "attachment.purged",
    ]


async def test_upload_needs_a_writable_field(make_client: ClientFactory, att: AttachTenant) -> None:
    slug = att.tenant.slug
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.legal)  # read only on the form
        refused = await upload(client, csrf, slug, STATEMENTS, ("a.pdf", PDF))
        assert refused.status_code == 403
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        missing = await upload(client, csrf, slug, "purpose", ("a.pdf", PDF))  # not a file field
        assert missing.status_code == 404
        # Multipart bodies carry their CSRF token in the header, never read from the body.
        no_token = await client.post(upload_url(slug, LICENCE), files={"file": ("a.pdf", PDF)})
        assert no_token.status_code == 403


def test_definitions_declare_attachments_correctly(tmp_path: Path) -> None:
    bundle = attachment_bundle(tmp_path / "b")
    files = {
        path.relative_to(bundle).as_posix(): json.loads(path.read_text(encoding="utf-8"))
        for path in bundle.rglob("*.json")
    }
    props = files["forms/application.json"]["schema"]["properties"]
    props[LICENCE]["x-attachment"] = {"accept": ["exe"], "max_size_mb": 500, "max_count": 0}
    props[STATEMENTS]["items"] = {"type": "string"}
    props["purpose"]["x-attachment"] = {"accept": ["pdf"], "max_size_mb": 1}
    props["owners"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "array", "x-attachment": {"accept": ["pdf"], "max_size_mb": 1}}
            },
        },
    }
    with pytest.raises(BundleInvalid) as caught:
        validate_bundle_dict(files)
    found = {(e.pointer, e.message) for e in caught.value.errors}
    base = "/schema/properties"
    pointers = {p for p, _ in found}
    assert {
        f"{base}/{LICENCE}/x-attachment",
        f"{base}/{STATEMENTS}/x-attachment",
        f"{base}/purpose/x-attachment",
        f"{base}/owners/items/properties/name/x-attachment",
    } <= pointers
    messages = " | ".join(m for _, m in found)
    for says in (
        "'exe' is not one of",
        "500 is greater than the maximum of 100",
        "max_count: 0 is less than the minimum of 1",
        "omit items",
        'must be "type": "array"',
        "only to top-level properties",
    ):
        assert says in messages, says


async def test_openapi_documents_the_attachment_routes(make_client: ClientFactory) -> None:
    async with make_client() as client:
        paths = (await client.get("/t/alpha/api/openapi.json")).json()["paths"]
    upload_path = paths["/t/{slug}/api/forms/{form_id}/attachments/{field}"]["post"]
    assert "multipart/form-data" in upload_path["requestBody"]["content"]
    assert set(paths["/t/{slug}/api/attachments/{attachment_id}"]) == {"get", "delete"}


async def test_a_refused_page_shows_the_callers_files_by_name(
    make_client: ClientFactory, att: AttachTenant
) -> None:
    slug = att.tenant.slug
    async with make_client() as client:
        other_csrf = await sign_in(client, slug, att.manager2)
        theirs = (await upload(client, other_csrf, slug, STATEMENTS, ("他人报表.pdf", PDF))).json()
    async with make_client() as client:
        csrf = await sign_in(client, slug, att.manager)
        mine = (await upload(client, csrf, slug, LICENCE, ("我的执照.pdf", PDF))).json()
        page = await client.post(
            f"/t/{slug}/forms/application/new",
            data={
                "csrf_token": csrf,
                "amount": "not a number",
                LICENCE: mine["items"][0]["id"],
                STATEMENTS: theirs["items"][0]["id"],
            },
        )
    assert page.status_code == 422
    assert "我的执照.pdf" in page.text  # re-shown by name, still held by a hidden input
    assert f'value="{mine["items"][0]["id"]}"' in page.text
    assert "他人报表.pdf" not in page.text  # another user's upload is never described
