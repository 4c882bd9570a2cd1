"""Connecting Tortoise in either mode, and running the migrations."""

from __future__ import annotations

from typing import Any, Literal

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as tortoise_migrate

from danbao.config import Settings

APP_LABEL = "danbao"

Role = Literal["app", "owner"]


def tortoise_config(settings: Settings, role: Role = "app") -> dict[str, Any]:
    """``app`` serves requests (a non-owner role under RLS); ``owner`` migrates and provisions."""
    if settings.is_postgres:
        url = settings.app_database_url if role == "app" else settings.database_url
        connection = expand_db_url(url.replace("asyncpg://", "postgres://", 1))
        connection["engine"] = "danbao.db.rls_backend"
        connection["credentials"].setdefault("max_size", 10)
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        connection = expand_db_url(settings.database_url)
        # SQLite: wait for a writer instead of failing at once when two tasks write.
        connection["credentials"].setdefault("busy_timeout", 5000)
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": ["danbao.db.models"],
                "migrations": "danbao.db.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_db(settings: Settings, role: Role = "app") -> None:
    # Tortoise keeps its state in a context variable; servers start the lifespan in a
    # task of its own, so requests and in-process jobs need the process-wide fallback.
    await Tortoise.init(config=tortoise_config(settings, role), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


async def run_migrations(settings: Settings) -> None:
    """Apply every pending migration as the owner (creates roles, keys and RLS on PostgreSQL)."""
    try:
        await tortoise_migrate(config=tortoise_config(settings, "owner"))
    finally:
        await Tortoise.close_connections()
