"""What every object store offers, and the key rules that keep tenants apart.

Callers name objects with keys relative to the tenant in context; a store turns a key
into ``tenants/<tenant_id>/<key>`` itself. No caller ever passes a tenant id, so no
caller can name another tenant's object.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from danbao.tenancy.context import current_tenant

MAX_KEY_LENGTH = 400
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the S3 (SigV4) ceiling
CHUNK_BYTES = 256 * 1024


class ObjectNotFound(LookupError):
    """No object under this key for the tenant in context (foreign and missing look alike)."""


class InvalidKey(ValueError):
    """A key that could escape the tenant's space or mean different things to different stores."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> StoredObject: ...

    async def put_file(
        self, key: str, source: IO[bytes], *, content_type: str, sha256: str
    ) -> None:
        """Store ``source`` (read from its current position to the end) without holding
        it in memory; the caller has counted and hashed it while receiving it."""
        ...

    async def get(self, key: str) -> bytes: ...

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        """The object in chunks. Missing objects raise ObjectNotFound here, before the
        first chunk, so a download can still answer 404."""
        ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str = "") -> list[str]: ...

    async def presigned_url(self, key: str, expires_seconds: int = 300) -> str | None: ...

    async def health(self) -> dict[str, Any]: ...

    def iter_objects(self) -> AsyncIterator[tuple[str, bytes]]:
        """Every object of the tenant in context as ``(key, data)``, for a tenant export."""
        ...


def _check_path(text: str, *, allow_trailing_slash: bool) -> None:
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidKey(f"key longer than {MAX_KEY_LENGTH} characters")
    if text.startswith("/"):
        raise InvalidKey("key must be relative (no leading '/')")
    if "\\" in text:
        raise InvalidKey("key must not contain a backslash")
    # NUL and other control characters: truncation on some filesystems, log injection.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise InvalidKey("key must not contain control characters")
    segments = text.split("/")
    if allow_trailing_slash and segments[-1] == "":
        segments.pop()
    for segment in segments:
        if segment in ("", ".", ".."):
            # Empty and dot segments alias other keys on a filesystem but not on S3.
            raise InvalidKey("key segments must not be empty, '.' or '..'")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("key must be a non-empty string")
    _check_path(key, allow_trailing_slash=False)
    return key


def validate_prefix(prefix: str) -> str:
    """Like validate_key, but empty and a trailing '/' are allowed (``"letters/"``)."""
    if not isinstance(prefix, str):
        raise InvalidKey("prefix must be a string")
    if prefix:
        _check_path(prefix, allow_trailing_slash=True)
    return prefix


def tenant_prefix() -> str:
    """``tenants/<tenant_id>/`` for the tenant in context; MissingTenantContext without one."""
    # Re-parse so only a canonical UUID, never a stray string, becomes part of a path.
    tenant_id = uuid.UUID(str(current_tenant().tenant_id))
    return f"tenants/{tenant_id}/"


def describe(key: str, data: bytes, content_type: str) -> StoredObject:
    return StoredObject(key, len(data), hashlib.sha256(data).hexdigest(), content_type)


def check_expiry(expires_seconds: int) -> int:
    if not 0 < expires_seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_seconds must be between 1 and {MAX_PRESIGN_SECONDS}")
    return expires_seconds
