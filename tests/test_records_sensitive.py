"""Sensitive fields: encrypted at rest under per-tenant keys, searchable by equality through
a keyed hash, masked by field rules, revealed only with ``unmask`` and always audited."""

from __future__ import annotations

import base64
import json
import secrets
import uuid

import asyncpg
import pytest
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.authz.scope_query import EVERY_RECORD
from danbao.config import Settings
from danbao.crypto.fields import (
    DataKey,
    DecryptError,
    FieldPath,
    blind_index,
    decrypt_value,
    encrypt_value,
)
from danbao.crypto.master_key import unwrap_data_key
from danbao.db.models import AuditEvent
from danbao.records.access import get_record
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import PG_ADMIN_URL, TEST_DB, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user, records_url

MOBILE = VALID["contact_mobile"]
ID_FIELD = "legal_rep_id_number"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def fresh_id() -> str:
    """A resident ID with a correct check digit, unique to the test that asks."""
    body = f"110105{1950 + secrets.randbelow(50)}0101{secrets.randbelow(1000):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def services_of(app: Starlette) -> Services:
    services: Services = app.state.services
    return services


async def create(make_client: ClientFactory, tenant: TenantFixture, email: str, **data: str) -> str:
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, email)
        created = await client.post(
            records_url(tenant.slug),
            json={"data": {**VALID, **data}},
            headers={"X-CSRF-Token": csrf},
        )
    assert created.status_code == 201, created.text
    assert created.json()["data"][ID_FIELD] == data.get(ID_FIELD, VALID[ID_FIELD])
    return str(created.json()["id"])


async def shown_as(make_client: ClientFactory, tenant: TenantFixture, email: str, rid: str) -> str:
    async with make_client() as client:
        await sign_in(client, tenant.slug, email)
        shown = await client.get(records_url(tenant.slug, rid))
    assert shown.status_code == 200, shown.text
    return str(shown.json()["data"][ID_FIELD])


def test_envelopes_are_bound_to_tenant_form_and_field() -> None:
    key = DataKey(1, bytes(range(32)))
    path = FieldPath("application", ID_FIELD)
    sealed = encrypt_value(key, "t1", path, "11010519491231002X")
    assert sealed.startswith("enc:v1:1:") and "11010519491231002X" not in sealed
    assert sealed != encrypt_value(key, "t1", path, "11010519491231002X")  # fresh nonce
    assert decrypt_value(key, "t1", path, sealed) == "11010519491231002X"
    for tenant, where in (("t2", path), ("t1", FieldPath("application", "contact_mobile"))):
        with pytest.raises(DecryptError):
            decrypt_value(key, tenant, where, sealed)
    with pytest.raises(DecryptError):
        decrypt_value(DataKey(1, bytes(32)), "t1", path, sealed)
    with pytest.raises(DecryptError):
        decrypt_value(key, "t1", path, sealed[:-6] + "AAAAAA")
    a = blind_index(b"k" * 32, "application", ID_FIELD, "11010519491231002x", "cn-resident-id")
    b = blind_index(
        b"k" * 32, "application", ID_FIELD, "１１０１０５１９４９１２３１００２Ｘ", "cn-resident-id"
    )
    assert a == b and len(a) == 64
    assert a != blind_index(b"j" * 32, "application", ID_FIELD, "11010519491231002X")


async def test_rows_hold_envelopes_and_the_api_the_value(
    make_client: ClientFactory, tenants: dict[str, TenantFixture], pg_owner: asyncpg.Connection
) -> None:
    alpha = tenants["alpha"]
    id_number = fresh_id()
    email, _ = await new_user(alpha, ["account_manager"], "business")
    rid = await create(make_client, alpha, email, **{ID_FIELD: id_number})
    row = await pg_owner.fetchrow(
        "SELECT data::text AS data, search_index::text AS ix FROM form_record WHERE id = $1",
        uuid.UUID(rid),
    )
    assert row is not None
    assert id_number not in row["data"] and MOBILE not in row["data"]
    data = json.loads(row["data"])
    assert data[ID_FIELD].startswith("enc:v1:") and data["contact_mobile"].startswith("enc:v1:")
    assert data["applicant_name"] == VALID["applicant_name"]  # ordinary fields stay plain
    assert set(json.loads(row["ix"])) == {ID_FIELD, "contact_mobile"}
    assert id_number not in row["ix"]
    committee, _ = await new_user(alpha, ["committee_member"])
    manager, _ = await new_user(alpha, ["general_manager"])
    assert await shown_as(make_client, alpha, email, rid) == id_number
    assert await shown_as(make_client, alpha, manager, rid) == id_number
    masked = await shown_as(make_client, alpha, committee, rid)
    assert masked == id_number[:4] + "*" * 10 + id_number[-4:]


async def test_an_envelope_moved_elsewhere_does_not_decrypt(
    app: Starlette,
    make_client: ClientFactory,
    tenants: dict[str, TenantFixture],
    pg_owner: asyncpg.Connection,
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    rid_a = await create(make_client, alpha, alpha.manager_email)
    rid_b = await create(make_client, beta, beta.manager_email)
    stolen = await pg_owner.fetchval(
        "SELECT data->>$2 FROM form_record WHERE id = $1", uuid.UUID(rid_a), ID_FIELD
    )
    keys = services_of(app).keys
    moves = (
        (rid_b, beta, ID_FIELD),  # into another tenant's record, same field
        (rid_a, alpha, "contact_mobile"),  # into another field of the same record
    )
    for rid, tenant, field in moves:
        await pg_owner.execute(
            "UPDATE form_record SET data = jsonb_set(data, $2, to_jsonb($3::text)) WHERE id = $1",
            uuid.UUID(rid),
            [field],
            stolen,
        )
        with tenant_scope(tenant.context), pytest.raises(DecryptError, match="does not decrypt"):
            async with in_transaction():
                await get_record("application", uuid.UUID(rid), EVERY_RECORD, keys=keys)
    # Over HTTP: a clear integrity error, recorded, and never the envelope itself.
    async with make_client() as client:
        await sign_in(client, "alpha", alpha.manager_email)
        response = await client.get(f"/t/alpha/api/forms/application/records/{rid_a}")
    assert response.status_code == 500 and response.json()["error"]["code"] == "integrity"
    assert "enc:v1" not in response.text
    with tenant_scope(alpha.context):
        async with in_transaction():
            assert await AuditEvent.filter(action="record.integrity_failed").exists()


async def test_equality_search_through_the_keyed_hash(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    id_number = fresh_id()
    owner, _ = await new_user(alpha, ["account_manager"], "business")
    other, _ = await new_user(alpha, ["account_manager"], "business")
    rid = await create(make_client, alpha, owner, **{ID_FIELD: id_number})
    beta_manager, _ = await new_user(beta, ["general_manager"])
    params = {f"eq.{ID_FIELD}": id_number.lower()}  # normalised before hashing
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", owner)
        found = await client.get(records_url("alpha"), params=params)
        by_mobile = await client.get(records_url("alpha"), params={"eq.contact_mobile": MOBILE})
        by_name = await client.get(
            records_url("alpha"),
            params={"eq.applicant_name": VALID["applicant_name"], **params},
        )
        unknown = await client.get(records_url("alpha"), params={"eq.amount": "1"})
        new_id = fresh_id()
        patched = await client.patch(
            records_url("alpha", rid),
            json={"data": {ID_FIELD: new_id}},
            headers={"X-CSRF-Token": csrf},
        )
        assert patched.status_code == 200, patched.text
        old = await client.get(records_url("alpha"), params=params)
        new = await client.get(records_url("alpha"), params={f"eq.{ID_FIELD}": new_id})
    async with make_client() as client:
        await sign_in(client, "alpha", other)
        out_of_scope = await client.get(records_url("alpha"), params=params)
    async with make_client() as client:
        await sign_in(client, "beta", beta_manager)
        other_tenant = await client.get(records_url("beta"), params=params)
    assert [r["id"] for r in found.json()["items"]] == [rid], found.text
    assert found.json()["items"][0]["data"][ID_FIELD] == id_number
    assert rid in [r["id"] for r in by_mobile.json()["items"]]
    assert [r["id"] for r in by_name.json()["items"]] == [rid]
    assert unknown.status_code == 400
    assert old.json()["total"] == 0
    assert [r["id"] for r in new.json()["items"]] == [rid]
    assert out_of_scope.json()["total"] == 0
    assert other_tenant.json()["total"] == 0
    with tenant_scope(alpha.context):
        async with in_transaction():
            updated = await AuditEvent.filter(action="record.updated", object_id=rid).first()
    assert updated is not None
    assert updated.data["changes"] == [
        {"pointer": f"/{ID_FIELD}", "old": "[changed]", "new": "[changed]"}
    ]
    assert new_id not in json.dumps(updated.data) and id_number not in json.dumps(updated.data)


async def test_reveal_needs_unmask_and_is_audited(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    id_number = fresh_id()
    rid = await create(make_client, alpha, alpha.manager_email, **{ID_FIELD: id_number})
    url = records_url("alpha", rid, "reveal")
    allowed, _ = await new_user(alpha, ["general_manager"])
    refused, _ = await new_user(alpha, ["committee_member"])
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", allowed)
        revealed = await client.post(url, json={"field": ID_FIELD}, headers={"X-CSRF-Token": csrf})
        not_sensitive = await client.post(
            url, json={"field": "applicant_name"}, headers={"X-CSRF-Token": csrf}
        )
        missing = await client.post(
            records_url("alpha", str(uuid.uuid4()), "reveal"),
            json={"field": ID_FIELD},
            headers={"X-CSRF-Token": csrf},
        )
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", refused)
        denied = await client.post(url, json={"field": ID_FIELD}, headers={"X-CSRF-Token": csrf})
        still_masked = await client.get(records_url("alpha", rid))
    assert revealed.status_code == 200, revealed.text
    assert revealed.json() == {"field": ID_FIELD, "value": id_number}
    assert not_sensitive.status_code == 400 and missing.status_code == 404
    assert denied.status_code == 403
    assert still_masked.json()["data"][ID_FIELD] != id_number
    with tenant_scope(alpha.context):
        async with in_transaction():
            events = await AuditEvent.filter(action="record.revealed", object_id=rid)
            refusals = await AuditEvent.filter(
                action="authz.denied", object_id="form:application"
            ).order_by("-seq")
    assert len(events) == 1
    assert events[0].data == {"form": "application", "field": ID_FIELD}
    assert id_number not in json.dumps(events[0].data)
    assert refusals and refusals[0].data.get("action") == "unmask"


async def test_keys_are_stored_wrapped_and_append_only(
    make_client: ClientFactory,
    tenants: dict[str, TenantFixture],
    pg_owner: asyncpg.Connection,
    settings: Settings,
) -> None:
    alpha = tenants["alpha"]
    await create(make_client, alpha, alpha.manager_email)
    rows = await pg_owner.fetch(
        "SELECT purpose, version, wrapped_key FROM tenant_key WHERE tenant_id = $1", alpha.id
    )
    assert sorted((r["purpose"], r["version"]) for r in rows) == [("data", 1), ("index", 1)]
    master = base64.b64decode(settings.master_key)
    other_master = bytes(32)
    for row in rows:
        wrapped = base64.b64decode(row["wrapped_key"])
        assert len(wrapped) == 40  # RFC 3394: the 32-byte key plus an 8-byte check
        assert len(unwrap_data_key(master, wrapped)) == 32
        with pytest.raises(InvalidUnwrap):
            unwrap_data_key(other_master, wrapped)
    app_conn = await asyncpg.connect(
        f"{PG_ADMIN_URL.replace('postgres@', 'danbao_app@')}/{TEST_DB}"
    )
    try:
        for statement in ("UPDATE tenant_key SET version = 9", "DELETE FROM tenant_key"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with app_conn.transaction():
                    await app_conn.execute(f"SET LOCAL app.tenant_id = '{alpha.id}'")
                    await app_conn.execute(statement)
    finally:
        await app_conn.close()
