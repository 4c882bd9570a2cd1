"""Autosave of drafts from the staff form page: saves with the revision the page shows,
refuses a stale one with 409 and a clear message, keeps submitted records out of it, and
never saves half of an invalid post."""

from __future__ import annotations

import re

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, Record
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user
from .test_form_pages import BAD_ID, _new_draft, _url

SAVED_AT = re.compile(r"\d{2}:\d{2}")


async def _autosave(
    client: httpx.AsyncClient, page: str, csrf: str, revision: object, **fields: str
) -> httpx.Response:
    data = {"csrf_token": csrf, **fields}
    if revision is not None:
        data["revision"] = str(revision)
    return await client.post(page + "/autosave", data=data)


async def _stored(tenant: TenantFixture, page: str) -> Record:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await Record.get(id=page.rsplit("/", 1)[1])


async def test_autosave_saves_the_revision_it_edits_and_refuses_a_stale_one(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"], "business")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", email)
        page = await _new_draft(client, csrf, "alpha", applicant_name="自动保存测试公司")
        html = (await client.get(page)).text
        assert f'data-autosave="{page}/autosave"' in html and "/static/autosave.js" in html
        saved = await _autosave(client, page, csrf, 1, applicant_name="自动保存改名公司")
        stale = await _autosave(client, page, csrf, 1, applicant_name="另一个窗口的名称")
        unnamed = await _autosave(client, page, csrf, None, applicant_name="没有版本号")
        invalid = await _autosave(
            client, page, csrf, 2, applicant_name="半截保存公司", legal_rep_id_number=BAD_ID
        )
        no_csrf = await client.post(page + "/autosave", data={"revision": "2"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"] == 2 and SAVED_AT.fullmatch(saved.json()["saved_at"])
    assert stale.status_code == 409 and unnamed.status_code == 409
    assert "其他窗口" in stale.json()["message"]
    assert invalid.status_code == 422
    assert [d["pointer"] for d in invalid.json()["details"]] == ["/legal_rep_id_number"]
    assert no_csrf.status_code == 403
    record = await _stored(alpha, page)
    assert record.revision == 2 and record.data["applicant_name"] == "自动保存改名公司"
    with tenant_scope(alpha.context):
        async with in_transaction():
            updates = await AuditEvent.filter(action="record.updated", object_id=str(record.id))
    assert len(updates) == 1  # only the save that happened


async def test_submitted_records_and_other_callers_are_never_autosaved(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"], "business")
    other, _ = await new_user(alpha, ["account_manager"], "business")
    reader, _ = await new_user(alpha, ["committee_member"])
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", email)
        page = await _new_draft(client, csrf, "alpha", **{k: str(v) for k, v in VALID.items()})
        rid = page.rsplit("/", 1)[1]
        submitted = await client.post(
            f"/t/alpha/api/forms/application/records/{rid}/submit",
            headers={"X-CSRF-Token": csrf},
        )
        assert submitted.status_code == 200, submitted.text
        html = (await client.get(page)).text
        late = await _autosave(client, page, csrf, 1, applicant_name="提交后改名")
    assert "data-autosave" not in html and "autosave.js" not in html
    assert late.status_code == 409
    for who in (other, reader):
        async with make_client() as client:
            csrf = await sign_in(client, "alpha", who)
            refused = await _autosave(client, page, csrf, 1, applicant_name="越权")
        assert refused.status_code in (403, 404)  # out of scope, or no update at all
    assert (await _stored(alpha, page)).data["applicant_name"] == VALID["applicant_name"]


async def test_a_new_form_is_created_by_its_first_autosave(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"], "business")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", email)
        html = (await client.get(_url("alpha", "new"))).text
        assert f'data-autosave="{_url("alpha", "new")}/autosave"' in html
        empty = await client.post(_url("alpha", "new", "autosave"), data={"csrf_token": csrf})
        bad = await client.post(
            _url("alpha", "new", "autosave"),
            data={"csrf_token": csrf, "legal_rep_id_number": BAD_ID},
        )
        made = await client.post(
            _url("alpha", "new", "autosave"),
            data={"csrf_token": csrf, "applicant_name": "新建自动保存公司"},
        )
    assert empty.status_code == 422 and bad.status_code == 422
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["revision"] == 1 and body["url"].startswith("/t/alpha/forms/application/records/")
    assert body["autosave"] == body["url"] + "/autosave"
    record = await _stored(alpha, body["url"])
    assert record.status == "draft" and record.data == {"applicant_name": "新建自动保存公司"}
