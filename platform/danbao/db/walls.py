"""The SQL that walls a tenant-owned table on PostgreSQL, shared by every migration that
adds one, so that all of them are walled by the same statements.

Tortoise models keep a single ``id`` key; the database gets the real one,
``(tenant_id, id)``, a key to the tenant, forced row-level security with one policy, and
the serving role's grants. Composite foreign keys ``(tenant_id, x) → (tenant_id, id)``
stop one tenant's row from referencing another's (key checks bypass RLS).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from danbao.config import load_settings

POLICY = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def is_postgres(schema_editor: Any) -> bool:
    """SQLite (the embedded mode) has no roles or RLS; the application wall stands alone."""
    return bool(schema_editor.client.capabilities.dialect == "postgres")


def app_role() -> str:
    """The serving role's name, checked: SQL identifiers take no bind parameters."""
    role = load_settings().app_db_role
    if not role.replace("_", "").isalnum():
        raise ValueError(f"DANBAO_APP_DB_ROLE must be a plain identifier, got {role!r}")
    return role


def table_sql(table: str, role: str, *, append_only: bool = False) -> str:
    """Key, tenant key, forced RLS and grants for one table (append-only: no update or
    delete for the serving role)."""
    privileges = "SELECT, INSERT" if append_only else "SELECT, INSERT, UPDATE, DELETE"
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


def composite_fk_sql(table: str, column: str, target: str, on_delete: str) -> str:
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk "
        f"FOREIGN KEY (tenant_id, {column}) REFERENCES {target} (tenant_id, id) "
        f"ON DELETE {on_delete};"
    )


def drop_composite_fk_sql(table: str, column: str) -> str:
    return f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_fk;"


def unwall_sql(tables: tuple[str, ...], role: str) -> list[str]:
    """Undo ``table_sql`` for ``tables`` (their keys go with the tables themselves)."""
    return [f"DROP POLICY tenant_isolation ON {t};" for t in tables] + [
        f"REVOKE ALL ON {', '.join(tables)} FROM {role};"
    ]


Step = Callable[[Any, Any], Awaitable[None]]
CompositeFk = tuple[str, str, str, str]  # table, column, target table, ON DELETE action


def migration_steps(
    tables: tuple[str, ...],
    *,
    append_only: tuple[str, ...] = (),
    composite_fks: tuple[CompositeFk, ...] = (),
    then: str = "",
) -> tuple[Step, Step]:
    """The ``ops.RunPython`` pair of a migration that creates ``tables``: wall them
    (``table_sql``, then the composite keys, then ``then``) and undo that again.

    Only on PostgreSQL: SQLite (the embedded mode) has no roles or RLS, the application
    wall stands alone, and the tables themselves go with the reversed CreateModel steps.
    """

    async def apply_walls(apps: Any, schema_editor: Any) -> None:
        if not is_postgres(schema_editor):
            return
        role = app_role()
        script = [table_sql(t, role, append_only=t in append_only) for t in tables]
        script += [composite_fk_sql(*fk) for fk in composite_fks]
        if then:
            script.append(then)
        await schema_editor.client.execute_script("\n".join(script))

    async def remove_walls(apps: Any, schema_editor: Any) -> None:
        if not is_postgres(schema_editor):
            return
        script = [drop_composite_fk_sql(t, c) for t, c, _, _ in composite_fks]
        script += unwall_sql(tables, app_role())
        await schema_editor.client.execute_script("\n".join(script))

    return apply_walls, remove_walls
