"""The two walls between tenants, each proven with the other one removed."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.db.models import TENANT_OWNED, CrossTenantWrite, User
from danbao.db.rls_backend import TenantChangedInTransaction
from danbao.tenancy.context import MissingTenantContext, tenant_scope

from .conftest import PG_ADMIN_URL, TEST_DB, TenantFixture

WALLS = importlib.import_module("danbao.db.migrations.0002_tenancy_walls")
# Later migrations that create tenant-owned tables wall them the same way.
LATER_WALLS = (
    importlib.import_module("danbao.db.migrations.0004_records"),
    importlib.import_module("danbao.db.migrations.0005_tenant_keys"),
    importlib.import_module("danbao.db.migrations.0006_plugins"),
    importlib.import_module("danbao.db.migrations.0007_record_migrations"),
    importlib.import_module("danbao.db.migrations.0008_plugin_callbacks"),
    importlib.import_module("danbao.db.migrations.0010_attachments"),
    importlib.import_module("danbao.db.migrations.0011_workflows"),
    importlib.import_module("danbao.db.migrations.0012_projects"),
    importlib.import_module("danbao.db.migrations.0013_project_documents"),
    importlib.import_module("danbao.db.migrations.0014_workflow_operations"),
    importlib.import_module("danbao.db.migrations.0015_workflow_timers"),
    importlib.import_module("danbao.db.migrations.0021_service_tickets"),
    importlib.import_module("danbao.db.migrations.0017_project_in_force"),
    importlib.import_module("danbao.db.migrations.0019_portal"),
    importlib.import_module("danbao.db.migrations.0016_workflow_migrations"),
    importlib.import_module("danbao.db.migrations.0018_project_default"),
)


def _walls_tables() -> tuple[str, ...]:
    return tuple(WALLS.TENANT_TABLES) + tuple(
        table for migration in LATER_WALLS for table in migration.TENANT_TABLES
    )


APP_URL = f"{PG_ADMIN_URL.replace('postgres@', 'danbao_app@')}/{TEST_DB}"


@pytest.fixture
async def app_conn(app: object) -> AsyncIterator[asyncpg.Connection]:
    """The serving role, connected directly: no application filter in the way."""
    conn = await asyncpg.connect(APP_URL)
    yield conn
    await conn.close()


def test_every_tenant_owned_model_is_walled() -> None:
    tables = {model._meta.db_table for model in TENANT_OWNED}
    assert tables == set(_walls_tables())


async def test_rls_hides_other_tenants_rows_without_the_app_filter(
    app_conn: asyncpg.Connection, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    for table in _walls_tables():
        async with app_conn.transaction():
            await app_conn.execute(f"SET LOCAL app.tenant_id = '{alpha.id}'")
            owners = await app_conn.fetch(f"SELECT DISTINCT tenant_id FROM {table}")
            assert {r["tenant_id"] for r in owners} <= {alpha.id}, table
    async with app_conn.transaction():
        await app_conn.execute(f"SET LOCAL app.tenant_id = '{alpha.id}'")
        emails = {r["email"] for r in await app_conn.fetch("SELECT email FROM app_user")}
    assert alpha.admin_email in emails and beta.admin_email not in emails


async def test_rls_fails_closed_without_a_tenant(app_conn: asyncpg.Connection) -> None:
    assert await app_conn.fetchval("SELECT count(*) FROM app_user") == 0
    async with app_conn.transaction():
        await app_conn.execute("SET LOCAL app.tenant_id = ''")
        assert await app_conn.fetchval("SELECT count(*) FROM audit_event") == 0


async def test_rls_refuses_writing_a_row_for_another_tenant(
    app_conn: asyncpg.Connection, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await app_conn.execute(f"SET LOCAL app.tenant_id = '{alpha.id}'")
            await app_conn.execute(
                "INSERT INTO app_user (id, tenant_id, email, name, password_hash, roles, "
                "is_active, failed_logins, created_at) VALUES ($1, $2, 'x@y', 'x', 'h', '[]', "
                "true, 0, now())",
                uuid.uuid4(),
                beta.id,
            )


async def test_app_role_cannot_alter_the_audit_trail(
    app_conn: asyncpg.Connection, tenants: dict[str, TenantFixture]
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await app_conn.execute(f"SET LOCAL app.tenant_id = '{tenants['alpha'].id}'")
            await app_conn.execute("UPDATE audit_event SET action = 'forged'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute("DELETE FROM definition_version")


async def test_composite_keys_refuse_a_cross_tenant_reference(
    pg_owner: asyncpg.Connection, tenants: dict[str, TenantFixture]
) -> None:
    """Key checks bypass RLS, so only a key including tenant_id stops this (as superuser)."""
    alpha, beta = tenants["alpha"], tenants["beta"]
    beta_user = await pg_owner.fetchval(
        "SELECT id FROM app_user WHERE tenant_id = $1 LIMIT 1", beta.id
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pg_owner.execute(
            "INSERT INTO user_session (id, tenant_id, user_id, token_hash, csrf_token, "
            "created_at, expires_at) VALUES ($1, $2, $3, 'h', 'c', now(), now())",
            uuid.uuid4(),
            alpha.id,
            beta_user,
        )


@pytest.fixture
async def rls_disabled(pg_owner: asyncpg.Connection) -> AsyncIterator[None]:
    """Remove the database wall for one test, and always put it back."""
    tables = _walls_tables()
    try:
        for table in tables:
            await pg_owner.execute(
                f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;"
                f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
            )
        yield
    finally:
        for table in tables:
            await pg_owner.execute(
                f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
                f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"
            )


async def test_app_wall_holds_with_rls_disabled(
    rls_disabled: None, app_conn: asyncpg.Connection, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    # Proof the database wall is really down: the raw app role now sees both tenants.
    seen = {r["tenant_id"] for r in await app_conn.fetch("SELECT tenant_id FROM app_user")}
    assert {alpha.id, beta.id} <= seen
    with tenant_scope(beta.context):
        async with in_transaction():
            beta_user = await User.filter(email=beta.admin_email).first()
    assert beta_user is not None
    with tenant_scope(alpha.context):
        async with in_transaction():
            assert await User.get_in_tenant(beta_user.id) is None
            assert await User.filter(email=beta.admin_email).count() == 0
            assert {u.tenant_id for u in await User.all()} == {alpha.id}
            with pytest.raises(CrossTenantWrite):
                beta_user.name = "hijacked"
                await beta_user.save()
            with pytest.raises(CrossTenantWrite):
                await beta_user.delete()


async def test_no_tenant_context_is_an_error_not_all_tenants(app: object) -> None:
    with pytest.raises(MissingTenantContext):
        await User.all()
    with pytest.raises(MissingTenantContext):
        await User.create(email="x@y", name="x", password_hash="h")


async def test_a_savepoint_cannot_switch_tenant(
    app: object, tenants: dict[str, TenantFixture]
) -> None:
    """A savepoint keeps its transaction's RLS setting, so entering another tenant (or any
    tenant inside a tenantless transaction) would silently see nothing: refuse it."""
    with pytest.raises(TenantChangedInTransaction):
        async with in_transaction():
            with tenant_scope(tenants["alpha"].context):
                async with in_transaction():
                    await User.all().count()
    with pytest.raises(TenantChangedInTransaction), tenant_scope(tenants["alpha"].context):
        async with in_transaction():
            with tenant_scope(tenants["beta"].context):
                async with in_transaction():
                    await User.all().count()
    with tenant_scope(tenants["alpha"].context):
        async with in_transaction():
            # Same tenant: an ordinary savepoint (record_event opens one in every request).
            await record_event("tests.savepoint", "test", "-")
