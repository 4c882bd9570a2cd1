"""The operator's ``danbao`` commands, run as a real process against the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

from danbao.config import REPO_ROOT, Settings

from .conftest import PASSWORD, ClientFactory, TenantFixture

DANBAO = str(Path(sys.executable).with_name("danbao"))


def run_cli(
    settings: Settings, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DANBAO_DATABASE_URL": settings.database_url,
        "DANBAO_REDIS_URL": settings.redis_url or "",
        "DANBAO_VAR_DIR": str(settings.var_dir),
        "DANBAO_OPERATOR": "ops-test",
    }
    return subprocess.run(
        [DANBAO, *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def _slug() -> str:
    return "t" + uuid.uuid4().hex[:8]


async def test_create_list_apply_versions(
    settings: Settings, tenants: dict[str, TenantFixture]
) -> None:
    slug = _slug()
    created = run_cli(
        settings,
        "tenant",
        "create",
        slug,
        "--admin-email",
        f"admin@{slug}.test",
        "--admin-password",
        PASSWORD,
    )
    assert created.returncode == 0, created.stderr
    assert "version 1" in created.stdout
    listing = run_cli(settings, "tenant", "list")
    assert slug in listing.stdout and "alpha" in listing.stdout

    again = run_cli(settings, "tenant", "apply", slug, str(REPO_ROOT / "tenants" / "_template"))
    assert again.returncode == 0 and again.stdout.strip() == "1 (unchanged)"
    applied = run_cli(settings, "tenant", "apply", slug, str(REPO_ROOT / "tenants" / "qsnd"))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "2"
    versions = run_cli(settings, "tenant", "versions", slug)
    assert versions.stdout.count("sha256:") == 2
    diff = run_cli(settings, "tenant", "versions", slug, "--diff", "1", "2")
    assert "tenant.json" in diff.stdout

    verify = run_cli(settings, "audit", "verify", slug)
    assert verify.returncode == 0 and "intact" in verify.stdout


async def test_create_refuses_bad_input_and_writes_nothing(
    settings: Settings, tmp_path: Path, tenants: dict[str, TenantFixture]
) -> None:
    bad = run_cli(
        settings,
        "tenant",
        "create",
        "Bad Slug",
        "--admin-email",
        "a@b.c",
        "--admin-password",
        PASSWORD,
    )
    assert bad.returncode == 1 and "slug" in bad.stderr
    dup = run_cli(
        settings,
        "tenant",
        "create",
        "alpha",
        "--admin-email",
        "a@b.c",
        "--admin-password",
        PASSWORD,
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr
    (tmp_path / "tenant.json").write_text("{", encoding="utf-8")
    slug = _slug()
    broken = run_cli(
        settings,
        "tenant",
        "create",
        slug,
        "--bundle",
        str(tmp_path),
        "--admin-email",
        "a@b.c",
        "--admin-password",
        PASSWORD,
    )
    assert broken.returncode == 1 and "tenant.json" in broken.stderr
    assert slug not in run_cli(settings, "tenant", "list").stdout


async def test_validate_command(settings: Settings, tmp_path: Path) -> None:
    ok = run_cli(settings, "validate", str(REPO_ROOT / "tenants" / "gxdb"))
    assert ok.returncode == 0 and "sha256:" in ok.stdout
    (tmp_path / "tenant.json").write_bytes(b'{"name": "\xff"}')
    bad = run_cli(settings, "validate", str(tmp_path))
    assert bad.returncode == 1
    assert "tenant.json:" in bad.stderr and "permissions.json" in bad.stderr


async def test_suspended_tenant_is_refused_then_resumed(
    settings: Settings, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    slug = _slug()
    assert (
        run_cli(
            settings,
            "tenant",
            "create",
            slug,
            "--admin-email",
            f"a@{slug}.test",
            "--admin-password",
            PASSWORD,
        ).returncode
        == 0
    )
    suspended = run_cli(settings, "tenant", "suspend", slug, "--reason", "欠费")
    assert suspended.returncode == 0 and "suspended" in suspended.stdout
    async with make_client() as client:
        for _ in range(40):  # another process changed it and announced it over Redis
            response = await client.post(
                f"/t/{slug}/api/session", json={"email": f"a@{slug}.test", "password": PASSWORD}
            )
            if response.status_code == 403:
                break
            await asyncio.sleep(0.2)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "suspended"
        page = await client.get(f"/t/{slug}/login")
        assert page.status_code == 403 and "暂停" in page.text
    assert run_cli(settings, "tenant", "resume", slug).returncode == 0
    async with make_client() as client:
        for _ in range(40):
            response = await client.post(
                f"/t/{slug}/api/session", json={"email": f"a@{slug}.test", "password": PASSWORD}
            )
            if response.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert response.status_code == 200


async def test_export_archive(
    settings: Settings, tmp_path: Path, tenants: dict[str, TenantFixture]
) -> None:
    out = tmp_path / "beta.tar.gz"
    result = run_cli(settings, "tenant", "export", "beta", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
        users = tar.extractfile("users.jsonl").read().decode()  # type: ignore[union-attr]
        audit = tar.extractfile("audit.jsonl").read().decode()  # type: ignore[union-attr]
    assert {"manifest.json", "users.jsonl", "audit.jsonl", "definitions/v1.json"} <= set(names)
    assert "admin@beta.test" in users and "admin@alpha.test" not in users
    assert "argon2" not in users  # password hashes stay behind
    assert str(tenants["alpha"].id) not in audit
