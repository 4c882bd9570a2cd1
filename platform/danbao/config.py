"""Settings: every environment variable Danbao reads, in one typed place.

The embedded default needs none of them. Setting ``DANBAO_DATABASE_URL`` (PostgreSQL),
``DANBAO_REDIS_URL`` and ``DANBAO_S3_BUCKET`` switches each part to its production
counterpart; the README documents every variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"DANBAO_{name}", default).strip()


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if not raw:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint_url: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    """Owner connection: runs migrations and operator commands."""
    app_database_url: str
    """Serving connection: a role that owns nothing and cannot bypass row-level security."""
    app_db_role: str
    app_db_password: str
    redis_url: str | None
    s3: S3Settings | None
    master_key: str | None
    host: str
    port: int
    base_domain: str | None
    """When set, ``{slug}.{base_domain}`` also resolves the tenant from the Host header."""
    cookie_secure: bool | None
    """None: Secure cookies exactly when the request came over https."""
    log_level: str
    login_max_failures: int
    login_lockout_seconds: int
    session_hours: int
    tenant_cache_size: int
    """Bound of each heavy per-tenant cache (parsed bundles, compiled policies)."""
    tenant_registry_size: int
    """Bound of the tenant lookup cache; entries are a few hundred bytes."""
    schemas_dir: Path = field(default=REPO_ROOT / "schemas")
    tenants_dir: Path = field(default=REPO_ROOT / "tenants")
    master_key_previous: str | None = None
    """The master key being retired: tenant keys still wrapped by it unwrap until
    ``danbao keys rewrap`` has moved them under ``master_key``."""
    console_dir: Path = field(default=REPO_ROOT / "console")
    timer_tick_seconds: int = 60
    """Embedded mode: how often the web process sweeps approval timers (0: never)."""

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))

    @property
    def mode(self) -> str:
        return "production" if self.is_postgres else "embedded"

    @property
    def sqlite_path(self) -> Path:
        return self.var_dir / "danbao.sqlite3"


def _with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    auth = f"{user}:{password}@" if password else f"{user}@"
    return urlunsplit((parts.scheme, auth + host, parts.path, parts.query, parts.fragment))


def load_settings() -> Settings:
    var_dir = Path(_env("VAR_DIR", str(REPO_ROOT / "var"))).resolve()
    app_role = _env("APP_DB_ROLE", "danbao_app")
    app_password = _env("APP_DB_PASSWORD")
    database_url = _env("DATABASE_URL") or f"sqlite://{var_dir / 'danbao.sqlite3'}"
    app_url = _env("APP_DATABASE_URL")
    if not app_url:
        is_pg = database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))
        app_url = _with_user(database_url, app_role, app_password) if is_pg else database_url
    bucket = _env("S3_BUCKET")
    s3 = (
        S3Settings(
            bucket=bucket,
            endpoint_url=_env("S3_ENDPOINT_URL") or None,
            region=_env("S3_REGION", "cn-north-1"),
            access_key_id=_env("S3_ACCESS_KEY_ID") or None,
            secret_access_key=_env("S3_SECRET_ACCESS_KEY") or None,
        )
        if bucket
        else None
    )
    secure_raw = _env("COOKIE_SECURE")
    return Settings(
        var_dir=var_dir,
        database_url=database_url,
        app_database_url=app_url,
        app_db_role=app_role,
        app_db_password=app_password,
        redis_url=_env("REDIS_URL") or None,
        s3=s3,
        master_key=_env("MASTER_KEY") or None,
        host=_env("HOST", "127.0.0.1"),
        port=int(_env("PORT", "8000")),
        base_domain=_env("BASE_DOMAIN") or None,
        cookie_secure=_env_bool("COOKIE_SECURE", False) if secure_raw else None,
        log_level=_env("LOG_LEVEL", "INFO").upper(),
        login_max_failures=int(_env("LOGIN_MAX_FAILURES", "5")),
        login_lockout_seconds=int(_env("LOGIN_LOCKOUT_SECONDS", "900")),
        session_hours=int(_env("SESSION_HOURS", "12")),
        tenant_cache_size=int(_env("TENANT_CACHE_SIZE", "1024")),
        tenant_registry_size=int(_env("TENANT_REGISTRY_SIZE", "20000")),
        master_key_previous=_env("MASTER_KEY_PREVIOUS") or None,
        timer_tick_seconds=int(_env("TIMER_TICK_SECONDS", "60")),
    )
