"""Object storage: a local directory (embedded) or S3 (production), scoped to the tenant."""

from __future__ import annotations

from danbao.config import Settings
from danbao.storage.base import (
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    StoredObject,
    validate_key,
)
from danbao.storage.local import LocalStore
from danbao.storage.s3 import S3Store

__all__ = [
    "InvalidKey",
    "LocalStore",
    "ObjectNotFound",
    "ObjectStore",
    "S3Store",
    "StoredObject",
    "open_store",
    "validate_key",
]


def open_store(settings: Settings) -> ObjectStore:
    if settings.s3 is not None:
        return S3Store(settings.s3)
    return LocalStore(settings.var_dir / "files")
