"""PostgreSQL only: the app role, composite keys and row-level security.

Tortoise models keep a single ``id`` key; here the database gets the real one,
``(tenant_id, id)``, composite foreign keys (a key on ``id`` alone would let a row of one
tenant reference another's, since key checks bypass RLS), and a policy on every
tenant-owned table. The app role owns nothing, cannot bypass RLS, and may not change or
remove audit events or published definition versions.
"""

from __future__ import annotations

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

from danbao.config import load_settings

TENANT_TABLES = (
    "app_user",
    "user_session",
    "api_token",
    "definition_version",
    "audit_head",
    "audit_event",
    "stored_file",
)
# Tables whose rows, once written, the serving role may never change or delete.
APPEND_ONLY = {"audit_event", "definition_version"}
COMPOSITE_FKS = (
    ("user_session", "user_id", "app_user", "CASCADE"),
    ("api_token", "user_id", "app_user", "CASCADE"),
)
POLICY = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def _is_postgres(schema_editor: Any) -> bool:
    return schema_editor.client.capabilities.dialect == "postgres"


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _role_sql(role: str, password: str) -> str:
    if not role.replace("_", "").isalnum():
        raise ValueError(f"DANBAO_APP_DB_ROLE must be a plain identifier, got {role!r}")
    login = f"LOGIN PASSWORD {_quote_literal(password)}" if password else "LOGIN"
    return f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
    CREATE ROLE {role} {login} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END $$;
DO $$ BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO {role}', current_database());
END $$;
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT ON tenant TO {role};
"""


def _table_sql(table: str, role: str) -> str:
    privileges = "SELECT, INSERT" if table in APPEND_ONLY else "SELECT, INSERT, UPDATE, DELETE"
    return f"""
DO $$ DECLARE pk text; BEGIN
  SELECT conname INTO pk FROM pg_constraint
   WHERE conrelid = '{table}'::regclass AND contype = 'p';
  EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', pk);
END $$;
ALTER TABLE {table} ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_fk
  FOREIGN KEY (tenant_id) REFERENCES tenant (id) ON DELETE RESTRICT;
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY});
GRANT {privileges} ON {table} TO {role};
"""


async def apply_walls(apps: Any, schema_editor: Any) -> None:
    if not _is_postgres(schema_editor):
        return  # SQLite (embedded mode) has no roles or RLS; the application wall stands alone.
    settings = load_settings()
    role = settings.app_db_role
    script = [_role_sql(role, settings.app_db_password)]
    script += [_table_sql(table, role) for table in TENANT_TABLES]
    for table, column, target, on_delete in COMPOSITE_FKS:
        script.append(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk "
            f"FOREIGN KEY (tenant_id, {column}) REFERENCES {target} (tenant_id, id) "
            f"ON DELETE {on_delete};"
        )
    await schema_editor.client.execute_script("\n".join(script))


async def remove_walls(apps: Any, schema_editor: Any) -> None:
    if not _is_postgres(schema_editor):
        return
    script = [f"ALTER TABLE {t} DROP CONSTRAINT {t}_{c}_fk;" for t, c, _, _ in COMPOSITE_FKS]
    for table in TENANT_TABLES:
        script.append(
            f"DROP POLICY tenant_isolation ON {table};"
            f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;"
            f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;"
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_fk;"
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey;"
            f"ALTER TABLE {table} ADD PRIMARY KEY (id);"
        )
    await schema_editor.client.execute_script("\n".join(script))


class Migration(migrations.Migration):
    dependencies = [("danbao", "0001_initial")]

    operations = [ops.RunPython(apply_walls, remove_walls)]
