"""Object storage: both stores behave alike, and a tenant only ever reaches its own objects."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import httpx
import pytest

from danbao.config import S3Settings, load_settings
from danbao.storage import (
    InvalidKey,
    LocalStore,
    ObjectNotFound,
    ObjectStore,
    S3Store,
    StoredObject,
    open_store,
)
from danbao.tenancy.context import (
    MissingTenantContext,
    Principal,
    TenantContext,
    TenantId,
    tenant_scope,
)

TENANT_A = TenantContext(TenantId(uuid.uuid4()), "alpha", Principal("user", "a1"))
TENANT_B = TenantContext(TenantId(uuid.uuid4()), "beta", Principal("user", "b1"))


def _s3_settings(endpoint: str) -> S3Settings:
    return S3Settings(
        bucket=f"danbao-test-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        region="cn-north-1",
        access_key_id="testing",
        secret_access_key="testing",
    )


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "files")
        return
    s3 = S3Store(_s3_settings(request.getfixturevalue("moto_endpoint")))
    await s3.ensure_bucket()
    yield s3


async def test_round_trip(store: ObjectStore) -> None:
    data = "担保函 PDF bytes".encode()
    with tenant_scope(TENANT_A):
        stored = await store.put("letters/2026/L-1.pdf", data, "application/pdf")
        assert stored == StoredObject(
            key="letters/2026/L-1.pdf",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type="application/pdf",
        )
        await store.put("letters/2026/L-2.pdf", b"two", "application/pdf")
        await store.put("uploads/id-card.jpg", b"jpeg", "image/jpeg")

        assert await store.get("letters/2026/L-1.pdf") == data
        assert await store.list() == [
            "letters/2026/L-1.pdf",
            "letters/2026/L-2.pdf",
            "uploads/id-card.jpg",
        ]
        assert await store.list("letters/") == ["letters/2026/L-1.pdf", "letters/2026/L-2.pdf"]
        assert await store.list("letters/2026/L-2") == ["letters/2026/L-2.pdf"]
        assert await store.list("nothing/") == []

        await store.put("letters/2026/L-1.pdf", b"replaced", "application/pdf")
        assert await store.get("letters/2026/L-1.pdf") == b"replaced"

        await store.delete("letters/2026/L-1.pdf")
        await store.delete("letters/2026/L-1.pdf")  # deleting twice is not an error
        with pytest.raises(ObjectNotFound):
            await store.get("letters/2026/L-1.pdf")
        assert await store.list() == ["letters/2026/L-2.pdf", "uploads/id-card.jpg"]


async def test_files_stream_in_and_out(store: ObjectStore) -> None:
    """put_file reads a file object to its end; open_stream gives the bytes back in chunks."""
    data = bytes(range(256)) * 2048  # 512 KiB: more than one chunk each way
    source = io.BytesIO(data)
    digest = hashlib.sha256(data).hexdigest()
    with tenant_scope(TENANT_A):
        await store.put_file(
            "scans/licence.pdf", source, content_type="application/pdf", sha256=digest
        )
        chunks = [chunk async for chunk in await store.open_stream("scans/licence.pdf")]
        assert len(chunks) > 1 and b"".join(chunks) == data
        with pytest.raises(ObjectNotFound):
            await store.open_stream("scans/missing.pdf")
        with pytest.raises(InvalidKey):
            await store.open_stream("../escape")
    with tenant_scope(TENANT_B), pytest.raises(ObjectNotFound):
        await store.open_stream("scans/licence.pdf")


async def test_tenants_cannot_see_each_other(store: ObjectStore) -> None:
    with tenant_scope(TENANT_A):
        await store.put("contract.pdf", b"alpha's contract", "application/pdf")
    with tenant_scope(TENANT_B):
        await store.put("contract.pdf", b"beta's contract", "application/pdf")
        await store.put("beta-only.txt", b"secret", "text/plain")

    with tenant_scope(TENANT_A):
        assert await store.get("contract.pdf") == b"alpha's contract"
        assert await store.list() == ["contract.pdf"]
        with pytest.raises(ObjectNotFound):
            await store.get("beta-only.txt")
        await store.delete("beta-only.txt")  # names A's (absent) object, not B's
        await store.delete("contract.pdf")

    with tenant_scope(TENANT_B):
        assert await store.get("contract.pdf") == b"beta's contract"
        assert await store.get("beta-only.txt") == b"secret"
        assert await store.list() == ["beta-only.txt", "contract.pdf"]


async def test_iter_objects_exports_only_the_tenant(store: ObjectStore) -> None:
    with tenant_scope(TENANT_A):
        await store.put("a/1.txt", b"one", "text/plain")
        await store.put("b.txt", b"two", "text/plain")
    with tenant_scope(TENANT_B):
        await store.put("other.txt", b"not A's", "text/plain")
    with tenant_scope(TENANT_A):
        exported = [item async for item in store.iter_objects()]
    assert exported == [("a/1.txt", b"one"), ("b.txt", b"two")]


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../other-tenant/x",
    "a/../../b",
    "a/./b",
    "a//b",
    "dir/",
    "a\\b",
    "nul\x00byte",
    "line\nbreak",
    "k" * 401,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_invalid_keys_are_refused(store: ObjectStore, key: str) -> None:
    with tenant_scope(TENANT_A):
        with pytest.raises(InvalidKey):
            await store.put(key, b"x", "text/plain")
        with pytest.raises(InvalidKey):
            await store.get(key)
        with pytest.raises(InvalidKey):
            await store.delete(key)
        assert await store.list() == []


@pytest.mark.parametrize("prefix", ["/", "../", "a\\", "x\x00"])
async def test_invalid_prefixes_are_refused(store: ObjectStore, prefix: str) -> None:
    with tenant_scope(TENANT_A), pytest.raises(InvalidKey):
        await store.list(prefix)


async def test_longest_key_is_accepted(store: ObjectStore) -> None:
    key = "k" * 200 + "/" + "v" * 199
    with tenant_scope(TENANT_A):
        await store.put(key, b"x", "text/plain")
        assert await store.get(key) == b"x"


async def test_invalid_key_is_a_value_error() -> None:
    assert issubclass(InvalidKey, ValueError)


async def test_missing_key(store: ObjectStore) -> None:
    with tenant_scope(TENANT_A), pytest.raises(ObjectNotFound):
        await store.get("never-stored.pdf")


async def test_no_tenant_context_is_an_error(store: ObjectStore) -> None:
    with pytest.raises(MissingTenantContext):
        await store.put("x.txt", b"x", "text/plain")
    with pytest.raises(MissingTenantContext):
        await store.get("x.txt")
    with pytest.raises(MissingTenantContext):
        await store.delete("x.txt")
    with pytest.raises(MissingTenantContext):
        await store.list()
    with pytest.raises(MissingTenantContext):
        await store.presigned_url("x.txt")


async def test_health(store: ObjectStore) -> None:
    health = await store.health()
    assert health["ok"] is True
    assert health["detail"]


async def test_presigned_url_downloads_the_object(moto_endpoint: str) -> None:
    s3 = S3Store(_s3_settings(moto_endpoint))
    await s3.ensure_bucket()
    with tenant_scope(TENANT_A):
        await s3.put("letters/L-9.pdf", b"%PDF-1.7 letter", "application/pdf")
        url = await s3.presigned_url("letters/L-9.pdf", expires_seconds=60)
        with pytest.raises(ValueError, match="expires_seconds"):
            await s3.presigned_url("letters/L-9.pdf", expires_seconds=0)
    assert url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.7 letter"
    assert response.headers["content-type"] == "application/pdf"


async def test_s3_objects_live_under_the_tenant_prefix(moto_endpoint: str) -> None:
    settings = _s3_settings(moto_endpoint)
    s3 = S3Store(settings)
    await s3.ensure_bucket()
    await s3.ensure_bucket()  # idempotent
    with tenant_scope(TENANT_A):
        await s3.put("doc.txt", b"x", "text/plain")
    raw = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=settings.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = raw.list_objects_v2(Bucket=settings.bucket)["Contents"]
    assert [item["Key"] for item in listed] == [f"tenants/{TENANT_A.tenant_id}/doc.txt"]


async def test_s3_health_reports_a_missing_bucket(moto_endpoint: str) -> None:
    health = await S3Store(_s3_settings(moto_endpoint)).health()
    assert health["ok"] is False


async def test_local_store_layout_and_no_url(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with tenant_scope(TENANT_A):
        await store.put("a/b.txt", b"x", "text/plain")
        assert await store.presigned_url("a/b.txt") is None
    assert (tmp_path / "tenants" / str(TENANT_A.tenant_id) / "a" / "b.txt").read_bytes() == b"x"
    assert list((tmp_path / ".partial").iterdir()) == []  # no temp file left behind


async def test_local_store_refuses_symlinks_out_of_the_tenant(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "files")
    with tenant_scope(TENANT_B):
        await store.put("mine.txt", b"beta's", "text/plain")
    with tenant_scope(TENANT_A):
        await store.put("placeholder.txt", b"x", "text/plain")
    tenant_a_dir = tmp_path / "files" / "tenants" / str(TENANT_A.tenant_id)
    (tenant_a_dir / "link").symlink_to(tmp_path / "files" / "tenants" / str(TENANT_B.tenant_id))
    with tenant_scope(TENANT_A), pytest.raises(InvalidKey):
        await store.get("link/mine.txt")


async def test_local_store_file_and_directory_collide(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with tenant_scope(TENANT_A):
        await store.put("a", b"file", "text/plain")
        with pytest.raises(InvalidKey):
            await store.put("a/b", b"nested", "text/plain")
        await store.delete("a")
        await store.put("a/b", b"nested", "text/plain")
        with pytest.raises(InvalidKey):
            await store.put("a", b"file", "text/plain")
        with pytest.raises(ObjectNotFound):
            await store.get("a")
        await store.delete("a/b")
        await store.put("a", b"file again", "text/plain")  # emptied directories were pruned
        assert await store.list() == ["a"]


async def test_open_store_follows_settings(tmp_path: Path, moto_endpoint: str) -> None:
    settings = dataclasses.replace(load_settings(), var_dir=tmp_path, s3=None)
    local = open_store(settings)
    assert isinstance(local, LocalStore)
    assert local.root == (tmp_path / "files").resolve()
    s3 = open_store(dataclasses.replace(settings, s3=_s3_settings(moto_endpoint)))
    assert isinstance(s3, S3Store)
