"""Object storage in a local directory: the embedded mode.

Layout: ``<root>/tenants/<tenant_id>/<key>``. Writes go to ``<root>/.partial/`` first
and are renamed into place, so a reader never sees half an object.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any, BinaryIO

from danbao.storage.base import (
    CHUNK_BYTES,
    InvalidKey,
    ObjectNotFound,
    StoredObject,
    describe,
    tenant_prefix,
    validate_key,
    validate_prefix,
)


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._partial = self.root / ".partial"

    def _tenant_dir(self) -> Path:
        return self.root / tenant_prefix()

    def _path(self, key: str) -> tuple[Path, Path]:
        """The file for ``key`` and its tenant directory, after the key and path checks."""
        validate_key(key)
        tenant_dir = self._tenant_dir()
        path = tenant_dir / key
        # The key rules forbid '..', but a symlink inside the tree could still lead out.
        if not path.resolve().is_relative_to(tenant_dir.resolve()):
            raise InvalidKey("key resolves outside the tenant's directory")
        return path, tenant_dir

    async def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        path, _ = self._path(key)
        await asyncio.to_thread(self._write, path, bytes(data))
        return describe(key, data, content_type)

    async def put_file(
        self, key: str, source: IO[bytes], *, content_type: str, sha256: str
    ) -> None:
        path, _ = self._path(key)
        await asyncio.to_thread(self._write_with, path, lambda out: shutil.copyfileobj(source, out))

    def _write(self, path: Path, data: bytes) -> None:
        self._write_with(path, lambda out: out.write(data))

    def _write_with(self, path: Path, fill: Callable[[BinaryIO], object]) -> None:
        self._partial.mkdir(parents=True, exist_ok=True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            # S3 allows both "a" and "a/b"; a filesystem cannot. Refuse rather than clobber.
            raise InvalidKey("key collides with an existing object's path") from exc
        fd, tmp = tempfile.mkstemp(dir=self._partial)
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.replace(tmp, path)
            except IsADirectoryError as exc:
                raise InvalidKey("key collides with an existing object's path") from exc
        finally:
            # Gone after a successful rename; left over only when something failed.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    async def get(self, key: str) -> bytes:
        path, _ = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        path, _ = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        return _chunks(handle)

    async def delete(self, key: str) -> None:
        path, tenant_dir = self._path(key)
        await asyncio.to_thread(self._remove, path, tenant_dir)

    @staticmethod
    def _remove(path: Path, tenant_dir: Path) -> None:
        if path.is_dir():
            return  # a key names objects, never directories
        path.unlink(missing_ok=True)
        # Drop directories left empty so a later key may reuse the name as an object.
        parent = path.parent
        while parent != tenant_dir and parent.is_relative_to(tenant_dir):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    async def list(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        return await asyncio.to_thread(_scan, self._tenant_dir(), prefix)

    async def presigned_url(self, key: str, expires_seconds: int = 300) -> str | None:
        self._path(key)  # same checks as every other call, even though there is no URL
        return None

    async def iter_objects(self) -> AsyncIterator[tuple[str, bytes]]:
        for key in await self.list():
            try:
                yield key, await self.get(key)
            except ObjectNotFound:
                continue  # deleted while the export ran

    async def health(self) -> dict[str, Any]:
        ok = await asyncio.to_thread(self._writable)
        state = "writable" if ok else "not writable"
        return {"ok": ok, "detail": f"local directory {self.root} {state}"}

    def _writable(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.root, os.W_OK | os.X_OK)


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def _scan(tenant_dir: Path, prefix: str) -> list[str]:
    directory, _, _ = prefix.rpartition("/")
    start = tenant_dir / directory if directory else tenant_dir
    keys = []
    for dirpath, _dirs, files in os.walk(start):
        base = Path(dirpath).relative_to(tenant_dir).as_posix()
        for name in files:
            key = name if base == "." else f"{base}/{name}"
            if key.startswith(prefix):
                keys.append(key)
    # Byte order of the UTF-8 form: the order S3 lists in.
    return sorted(keys, key=lambda k: k.encode())
