"""Browser packages: installed by `make install`, served from /vendor/, nothing else of npm."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from danbao.web.vendor import NODE_MODULES, VENDORED, vendored_dirs


@pytest.mark.parametrize("name", sorted(VENDORED))
def test_every_vendored_package_is_installed(name: str) -> None:
    folder = vendored_dirs()[name]
    assert folder.is_dir(), f"{folder} missing: run `make install` (npm ci)"
    assert any(folder.iterdir()), f"{folder} is empty"


@pytest.mark.parametrize("name", sorted(VENDORED))
async def test_vendored_files_are_served(
    make_client: Callable[[], httpx.AsyncClient], name: str
) -> None:
    folder = vendored_dirs()[name]
    first = next(p for p in sorted(folder.rglob("*")) if p.is_file())
    async with make_client() as client:
        response = await client.get(f"/vendor/{name}/{first.relative_to(folder).as_posix()}")
    assert response.status_code == 200
    assert response.content == first.read_bytes()


async def test_node_modules_itself_is_not_served(
    make_client: Callable[[], httpx.AsyncClient],
) -> None:
    assert NODE_MODULES.name == "node_modules"
    async with make_client() as client:
        for path in ("/vendor/", "/node_modules/.package-lock.json", "/vendor/../package.json"):
            response = await client.get(path)
            assert response.status_code == 404, path
