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
from danbao.db import walls

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


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _role_sql(role: str, password: str) -> str:
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


async def apply_walls(apps: Any, schema_editor: Any) -> None:
    if not walls.is_postgres(schema_editor):
        return
    role = walls.app_role()
    script = [_role_sql(role, load_settings().app_db_password)]
    script += [walls.table_sql(t, role, append_only=t in APPEND_ONLY) for t in TENANT_TABLES]
    script += [walls.composite_fk_sql(*fk) for fk in COMPOSITE_FKS]
    await schema_editor.client.execute_script("\n".join(script))


async def remove_walls(apps: Any, schema_editor: Any) -> None:
    if not walls.is_postgres(schema_editor):
        return
    script = [walls.drop_composite_fk_sql(t, c) for t, c, _, _ in COMPOSITE_FKS]
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
