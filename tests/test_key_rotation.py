"""Key rotation on PostgreSQL: a tenant's data key (new version, records re-encrypted by a
resumable, audited job in batches, readable throughout), and the master key (every tenant
key rewrapped by the CLI, with the retiring key still accepted meanwhile)."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.config import Settings
from danbao.crypto.fields import blind_index, decrypt_value, envelope_version
from danbao.crypto.master_key import unwrap_data_key
from danbao.crypto.tenant_keys import DATA, INDEX, TenantKeys
from danbao.db.models import AuditEvent, Record, TenantKey
from danbao.definitions import load_bundle
from danbao.guarantee.service import BORROWER, create_from_record
from danbao.jobs import InlineQueue
from danbao.jobs.worker import run_worker
from danbao.key_rotation import add_data_key_version, reencrypt_tenant, rotate_data_key
from danbao.provisioning import create_tenant
from danbao.records import reencrypt
from danbao.records.definition import FormDefinition
from danbao.records.sensitive import open_record
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .projects_helpers import submitted_record, user_by_email
from .records_helpers import VALID, new_user
from .test_operator_cli import DANBAO
from .test_ops_console import _new_operator, ops_sign_in
from .test_records_sensitive import fresh_id
from .test_records_sensitive_rows import holders, rows_bundle

FORM = "/t/{slug}/api/forms/application/records"


async def _tenant(tmp_path: Path) -> TenantFixture:
    slug = f"rk{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug,
        rows_bundle(tmp_path / "bundle"),
        admin_email=f"admin@{slug}.test",
        admin_password=PASSWORD,
        operator="tests",
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


async def _records(
    make_client: ClientFactory, tenant: TenantFixture, count: int
) -> tuple[str, dict[str, str]]:
    """``count`` drafts, each with an ID number and a shareholder's; (owner, id -> ID number)."""
    email, _ = await new_user(tenant, ["account_manager"], "chengdu")
    made: dict[str, str] = {}
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, email)
        for n in range(count):
            id_number = fresh_id()
            created = await client.post(
                FORM.format(slug=tenant.slug),
                json={
                    "data": {
                        "applicant_name": f"轮换测试{n}",
                        "legal_rep_id_number": id_number,
                        "shareholders": holders(fresh_id()),
                    }
                },
                headers={"X-CSRF-Token": csrf},
            )
            assert created.status_code == 201, created.text
            made[created.json()["id"]] = id_number
    return email, made


async def _versions(pg: asyncpg.Connection, tenant: TenantFixture) -> dict[str, set[str]]:
    """Record id -> the data-key versions of its envelopes, read raw as the DBA."""
    rows = await pg.fetch(
        "SELECT id, data::text AS data FROM form_record WHERE tenant_id = $1", tenant.id
    )
    found = {}
    for row in rows:
        text = row["data"]
        found[str(row["id"])] = {part.split(":", 1)[0] for part in text.split('"enc:v1:')[1:]}
    return found


async def _read_all(
    make_client: ClientFactory, tenant: TenantFixture, email: str, made: dict[str, str]
) -> None:
    async with make_client() as client:
        await sign_in(client, tenant.slug, email)
        for rid, id_number in made.items():
            shown = await client.get(FORM.format(slug=tenant.slug) + f"/{rid}")
            assert shown.status_code == 200, shown.text
            assert shown.json()["data"]["legal_rep_id_number"] == id_number


async def test_rotation_reencrypts_in_resumable_batches_and_stays_readable(
    app: Starlette,
    make_client: ClientFactory,
    pg_owner: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await _tenant(tmp_path)
    email, made = await _records(make_client, tenant, 5)
    keys: TenantKeys = app.state.services.keys
    assert set().union(*(await _versions(pg_owner, tenant)).values()) == {"1"}
    revisions = dict(
        await pg_owner.fetch(
            "SELECT id::text, revision FROM form_record WHERE tenant_id = $1", tenant.id
        )
    )

    # The rotation's first step alone: version 2 exists, nothing moved yet, new writes use it
    # (the job is started below, so nothing races the half-way checks).
    queue = InlineQueue()
    reencrypt.configure(keys, queue)
    monkeypatch.setattr(reencrypt, "TIME_BUDGET_SECONDS", 0.0)  # one batch per job: resumes
    _, version = await add_data_key_version(tenant.slug, keys, operator="tests")
    assert version == 2
    _, newer = await _records(make_client, tenant, 1)
    with tenant_scope(tenant.context):
        async with in_transaction():
            first = await reencrypt.reencrypt_batch(keys, 2, None, 2)
    assert first.examined == 2
    versions = await _versions(pg_owner, tenant)
    assert versions[next(iter(newer))] == {"2"}
    assert {"1"} in versions.values() and {"2"} in versions.values()  # half way
    await _read_all(make_client, tenant, email, made)  # every record reads meanwhile

    rotation = await reencrypt_tenant(tenant.slug, keys, queue, operator="tests", batch=2)
    assert rotation.version == 2
    await queue.drain()
    assert not queue.failures, queue.failures
    assert set().union(*(await _versions(pg_owner, tenant)).values()) == {"2"}
    await _read_all(make_client, tenant, email, made)
    after = dict(
        await pg_owner.fetch(
            "SELECT id::text, revision FROM form_record WHERE tenant_id = $1", tenant.id
        )
    )
    assert all(after[rid] == revisions[rid] for rid in revisions)  # no conflict for editors
    # The blind index key is not rotated: equality search still finds the records.
    rid, id_number = next(iter(made.items()))
    async with make_client() as client:
        await sign_in(client, tenant.slug, email)
        found = await client.get(
            FORM.format(slug=tenant.slug), params={"eq.legal_rep_id_number": id_number}
        )
    assert [r["id"] for r in found.json()["items"]] == [rid]
    keys_now = await pg_owner.fetch(
        "SELECT purpose, version FROM tenant_key WHERE tenant_id = $1 ORDER BY 1, 2", tenant.id
    )
    assert [tuple(r) for r in keys_now] == [("data", 1), ("data", 2), ("index", 1)]

    # Idempotent: running it again finds nothing to do, and says so.
    again = await reencrypt_tenant(tenant.slug, keys, queue, operator="tests", batch=2)
    await queue.drain()
    assert again.version == 2 and not queue.failures
    with tenant_scope(tenant.context):
        async with in_transaction():
            events = await AuditEvent.filter(action__startswith="tenant_key.").order_by("seq")
            batches = await AuditEvent.filter(action="records.reencrypted")
    assert [(e.action, e.data.get("records")) for e in events] == [
        ("tenant_key.rotated", None),
        ("tenant_key.reencryption_finished", 5 - first.resealed),
        ("tenant_key.reencryption_finished", 0),
    ]
    assert events[0].data == {"purpose": "data", "version": 2}
    assert first.resealed == 2  # the two oldest, by the step run by hand above
    assert sum(b.data["records"] for b in batches) == 3 and len(batches) >= 2
    reencrypt.configure(keys, app.state.services.queue)


async def test_a_broken_record_is_reported_and_the_rest_move(
    app: Starlette, make_client: ClientFactory, pg_owner: asyncpg.Connection, tmp_path: Path
) -> None:
    tenant = await _tenant(tmp_path)
    _, made = await _records(make_client, tenant, 3)
    broken, other = list(made)[:2]
    stolen = await pg_owner.fetchval(
        "SELECT data->>'legal_rep_id_number' FROM form_record WHERE id = $1", uuid.UUID(other)
    )
    await pg_owner.execute(  # an envelope moved into another field does not decrypt
        "UPDATE form_record SET data = jsonb_set(data, '{contact_mobile}', to_jsonb($2::text)) "
        "WHERE id = $1",
        uuid.UUID(broken),
        stolen,
    )
    keys: TenantKeys = app.state.services.keys
    queue = InlineQueue()
    reencrypt.configure(keys, queue)
    try:
        await rotate_data_key(tenant.slug, keys, queue, operator="tests")
        await queue.drain()
    finally:
        reencrypt.configure(keys, app.state.services.queue)
    assert not queue.failures
    versions = await _versions(pg_owner, tenant)
    assert versions[broken] == {"1"}  # left exactly as it was
    assert all(versions[rid] == {"2"} for rid in made if rid != broken)
    with tenant_scope(tenant.context):
        async with in_transaction():
            failed = await AuditEvent.filter(action="records.reencrypt_failed").first()
    assert failed is not None and failed.data == {"records": [broken]}


async def test_the_operator_console_rotates_and_a_worker_reencrypts(
    app: Starlette,
    make_client: ClientFactory,
    pg_owner: asyncpg.Connection,
    settings: Settings,
    tmp_path: Path,
) -> None:
    tenant = await _tenant(tmp_path)
    await _records(make_client, tenant, 2)
    operator = _new_operator(settings)
    async with make_client() as client:
        csrf = await ops_sign_in(client, operator)
        page = await client.get("/ops/", params={"q": tenant.slug})
        assert f'action="/ops/tenants/{tenant.slug}/rotate-key"' in page.text
        no_csrf = await client.post(f"/ops/tenants/{tenant.slug}/rotate-key")
        done = await client.post(
            f"/ops/tenants/{tenant.slug}/rotate-key", data={"csrf_token": csrf}
        )
        missing = await client.post("/ops/tenants/nosuch/rotate-key", data={"csrf_token": csrf})
        shown = await client.get(done.headers["location"])
    assert no_csrf.status_code == 403 and missing.status_code == 404
    assert done.status_code == 303 and "notice=key_rotated" in done.headers["location"]
    assert "数据密钥" in shown.text
    assert settings.redis_url
    await run_worker(settings.redis_url, burst=True, poll_delay=0.05)  # the arq queue's job
    assert set().union(*(await _versions(pg_owner, tenant)).values()) == {"2"}
    with tenant_scope(tenant.context):
        async with in_transaction():
            rotated = await AuditEvent.filter(action="tenant_key.rotated").first()
    assert rotated is not None and (rotated.actor_kind, rotated.actor_id) == ("operator", operator)


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``danbao …`` as the owner, without Redis (jobs run in the command itself)."""
    return subprocess.run(
        [DANBAO, *args],
        env={
            **os.environ,
            "DANBAO_DATABASE_URL": settings.database_url,
            "DANBAO_REDIS_URL": "",
            "DANBAO_VAR_DIR": str(settings.var_dir),
            "DANBAO_OPERATOR": "ops-test",
            "DANBAO_MASTER_KEY": settings.master_key or "",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_rotates_a_tenant_key(
    make_client: ClientFactory, pg_owner: asyncpg.Connection, settings: Settings, tmp_path: Path
) -> None:
    tenant = await _tenant(tmp_path)
    email, made = await _records(make_client, tenant, 3)
    done = cli(settings, "tenant", "rotate-key", tenant.slug, "--batch", "2")
    nosuch = cli(settings, "tenant", "rotate-key", "nosuch")
    assert done.returncode == 0, done.stderr
    assert "data key version 2" in done.stdout and "re-encrypted" in done.stdout
    assert nosuch.returncode == 1 and "nosuch" in nosuch.stderr
    assert set().union(*(await _versions(pg_owner, tenant)).values()) == {"2"}
    await _read_all(make_client, tenant, email, made)


async def test_cli_rewraps_every_tenant_key_under_a_new_master_key(
    pg_owner: asyncpg.Connection, settings: Settings, tenants: dict[str, TenantFixture]
) -> None:
    assert settings.master_key
    old = base64.b64decode(settings.master_key)
    new_key = os.urandom(32)
    new = base64.b64encode(new_key).decode()
    before = {
        r["id"]: r["wrapped_key"]
        for r in await pg_owner.fetch("SELECT id, wrapped_key FROM tenant_key")
    }
    assert before
    missing = cli(settings, "keys", "rewrap", DANBAO_MASTER_KEY=new)
    wrong = cli(
        settings,
        "keys",
        "rewrap",
        DANBAO_MASTER_KEY=new,
        DANBAO_MASTER_KEY_PREVIOUS=base64.b64encode(os.urandom(32)).decode(),
    )
    unchanged = {
        r["id"]: r["wrapped_key"]
        for r in await pg_owner.fetch("SELECT id, wrapped_key FROM tenant_key")
    }
    rotate = {"DANBAO_MASTER_KEY": new, "DANBAO_MASTER_KEY_PREVIOUS": settings.master_key}
    forward = cli(settings, "keys", "rewrap", **rotate)
    rerun = cli(settings, "keys", "rewrap", **rotate)
    moved = await pg_owner.fetch("SELECT id, wrapped_key FROM tenant_key")
    # Serving meanwhile: a key ring with the new key and the previous one opens both.
    ring = TenantKeys(new_key, previous=old)
    assert all(
        len(ring._unwrap(TenantKey(wrapped_key=w))) == 32
        for w in (next(iter(before.values())), moved[0]["wrapped_key"])
    )
    # ... and back, so the rest of the suite keeps its master key.
    back = cli(
        settings,
        "keys",
        "rewrap",
        DANBAO_MASTER_KEY=settings.master_key,
        DANBAO_MASTER_KEY_PREVIOUS=new,
    )
    assert missing.returncode == 1 and "DANBAO_MASTER_KEY_PREVIOUS" in missing.stderr
    assert wrong.returncode == 1 and "neither master key" in wrong.stderr
    assert unchanged == before
    assert forward.returncode == 0, forward.stderr
    assert f"{len(before)} keys rewrapped" in forward.stdout
    assert rerun.returncode == 0 and f"0 keys rewrapped, {len(before)} already" in rerun.stdout
    for row in moved:
        wrapped = base64.b64decode(row["wrapped_key"])
        assert unwrap_data_key(new_key, wrapped) == unwrap_data_key(
            old, base64.b64decode(before[row["id"]])
        )
    assert back.returncode == 0, back.stderr
    for row in await pg_owner.fetch("SELECT id, wrapped_key FROM tenant_key"):
        assert len(unwrap_data_key(old, base64.b64decode(row["wrapped_key"]))) == 32
    some_tenant = await pg_owner.fetchval("SELECT tenant_id FROM tenant_key LIMIT 1")
    rewrapped = await pg_owner.fetchval(
        "SELECT count(*) FROM audit_event WHERE tenant_id = $1 AND action = 'tenant_key.rewrapped'",
        some_tenant,
    )
    assert rewrapped == 2  # forward and back; the rerun changed nothing


async def test_rotation_reseals_the_projects_borrower_numbers(
    app: Starlette,
    make_client: ClientFactory,
    pg_owner: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the records, the job moves each project's sealed borrower certificate number
    to the new data key, in resumable batches; the keyed hash (index key) stays, and so do
    the project's version and updated_at; a project whose envelope does not open here is
    left as it is and named."""
    slug = f"rp{uuid.uuid4().hex[:8]}"
    made, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    tenant = TenantFixture(slug, made.id, f"admin@{slug}.test", "")
    keys: TenantKeys = app.state.services.keys
    email, _ = await new_user(tenant, ["account_manager"], "business")
    bundle = load_bundle(TEMPLATE)
    form = FormDefinition.from_bundle(bundle, "application")
    ids = []
    for _ in range(3):
        rid = await submitted_record(make_client, tenant, email)
        with tenant_scope(tenant.context):
            async with in_transaction():
                record = await open_record(keys, await Record.get(id=rid))
                user = await user_by_email(email)
                project = await create_from_record(
                    bundle.tenant, form, record, user=user, keys=keys
                )
        ids.append(project.id)
    good, broken = ids[:2], ids[2]
    alien = await pg_owner.fetchval(  # another path's envelope: does not open as a borrower
        "SELECT data->>'legal_rep_id_number' FROM form_record WHERE id = $1", uuid.UUID(rid)
    )
    await pg_owner.execute(
        "UPDATE project SET borrower_id_sealed = $2 WHERE id = $1", broken, alien
    )
    query = "SELECT id, borrower_id_sealed, borrower_id_hash, version, updated_at FROM project "
    query += "WHERE tenant_id = $1 ORDER BY id"
    before = {r["id"]: r for r in await pg_owner.fetch(query, tenant.id)}
    assert {envelope_version(r["borrower_id_sealed"]) for r in before.values()} == {1}

    queue = InlineQueue()
    reencrypt.configure(keys, queue)
    monkeypatch.setattr(reencrypt, "TIME_BUDGET_SECONDS", 0.0)  # one batch per job: resumes
    try:
        await rotate_data_key(slug, keys, queue, operator="tests", batch=1)
        await queue.drain()
    finally:
        reencrypt.configure(keys, app.state.services.queue)
    assert not queue.failures, queue.failures

    after = {r["id"]: r for r in await pg_owner.fetch(query, tenant.id)}
    with tenant_scope(tenant.context):
        async with in_transaction():
            data_key = await keys.get(DATA, 2)
            index_key = await keys.current(INDEX)
            for pid in good:
                sealed = after[pid]["borrower_id_sealed"]
                assert envelope_version(sealed) == 2
                assert decrypt_value(data_key, str(tenant.id), BORROWER, sealed) == VALID["uscc"]
                assert after[pid]["borrower_id_hash"] == before[pid]["borrower_id_hash"]
                assert after[pid]["borrower_id_hash"] == blind_index(
                    index_key.key, "project", "borrower_id", VALID["uscc"], None
                )
                assert (after[pid]["version"], after[pid]["updated_at"]) == (
                    before[pid]["version"],
                    before[pid]["updated_at"],
                )
            assert after[broken]["borrower_id_sealed"] == alien
            events = await AuditEvent.filter(action__startswith="projects.").order_by("seq")
            finished = await AuditEvent.get(action="tenant_key.reencryption_finished")
    assert [e.action for e in events] == ["projects.reencrypted"] * 2 + [
        "projects.reencrypt_failed"
    ]
    assert events[-1].data == {"projects": [str(broken)]}
    assert finished.data == {"version": 2, "records": 3, "projects": 2}
    assert str(VALID["uscc"]) not in str([e.data for e in events])
