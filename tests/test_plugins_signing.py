"""Signing a record's document: the flow goes through the tenant's e-signature plug-in, the
signed PDF is kept beside the original and verifies; the flow's status follows callbacks."""

from __future__ import annotations

import hashlib
import uuid

from starlette.applications import Starlette
from tortoise.transactions import in_transaction
from weasyprint import HTML

from danbao.db.models import PluginCallback, StoredFile
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal, verify_pdf
from danbao.plugins.tenant_config import configure
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user, records_url

GUARANTOR = "四川示例融资担保有限公司"


async def test_a_contract_is_signed_with_the_seal_kept_and_followed(
    app: Starlette, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    services: Services = app.state.services
    alpha = tenants["alpha"]
    seal = new_seal(GUARANTOR)
    pdf = bytes(HTML(string="<h1>委托保证合同</h1><p>人民币叁佰万元整</p>").write_pdf())
    with tenant_scope(alpha.context):
        async with in_transaction():
            await configure(
                services.keys, LocalPadesSigner, settings=seal_settings(seal, GUARANTOR)
            )
        key = f"contracts/{uuid.uuid4()}.pdf"
        await services.store.put(key, pdf, "application/pdf")
        async with in_transaction():
            original = await StoredFile.create(
                key=key,
                filename="委托保证合同.pdf",
                content_type="application/pdf",
                size=len(pdf),
                sha256=hashlib.sha256(pdf).hexdigest(),
                created_by="t",
            )
    owner, _ = await new_user(alpha, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", owner)
        headers = {"X-CSRF-Token": csrf}
        created = await client.post(records_url("alpha"), json={"data": VALID}, headers=headers)
        url = records_url("alpha", created.json()["id"], "signatures")
        body = {
            "file_id": str(original.id),
            "title": "签署委托保证合同",
            "plugin": "local.pades",
            "signers": [{"name": GUARANTOR, "kind": "organisation"}],
        }
        started = await client.post(url, json=body, headers=headers)
        assert started.status_code == 201, started.text
        flow = started.json()["flow"]
        assert flow["status"] == "DONE" and "content_b64" not in str(flow)

        unknown = await client.post(
            url, json={**body, "file_id": str(uuid.uuid4())}, headers=headers
        )
        bad = await client.post(url, json={**body, "signers": [{"name": "x"}]}, headers=headers)
        listed = (await client.get(url)).json()["items"]
    assert unknown.status_code == 404
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["pointer"] == "/signers/0"
    assert listed[0]["flow"]["flow_id"] == flow["flow_id"] and listed[0]["status"] == "DONE"

    with tenant_scope(alpha.context):
        async with in_transaction():
            signed_row = await StoredFile.get(id=started.json()["signed_files"][0])
        signed = await services.store.get(signed_row.key)
        assert hashlib.sha256(signed).hexdigest() == signed_row.sha256
        report = await verify_pdf(signed, seal.root_pem)
        assert report.ok and GUARANTOR in (report.signer or "")

        # A later verified callback about the flow is what the listing reports.
        async with in_transaction():
            await PluginCallback.create(
                plugin_id="local.pades",
                event_id=uuid.uuid4().hex,
                flow_id=flow["flow_id"],
                action="SIGN_FLOW_REVOKE",
                status="REVOKED",
            )
    async with make_client() as client:
        await sign_in(client, "alpha", owner)
        assert (await client.get(url)).json()["items"][0]["status"] == "REVOKED"
    stranger, _ = await new_user(alpha, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", stranger)
        hidden = await client.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert hidden.status_code == 404
