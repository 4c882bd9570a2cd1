"""The master key: from ``DANBAO_MASTER_KEY`` in production, generated into ``var/`` when
the embedded mode first runs. It never encrypts data itself; it wraps the per-tenant data
keys (AES key wrap, RFC 3394), so rotating it rewraps keys, not records."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from danbao.config import Settings

KEY_BYTES = 32
KEY_FILE = "master.key"


class MasterKeyError(RuntimeError):
    pass


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MasterKeyError(f"{where}: not base64") from exc
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{where}: must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def load_master_key(settings: Settings) -> bytes:
    if settings.master_key:
        return _decode(settings.master_key, "DANBAO_MASTER_KEY")
    if settings.is_postgres:
        raise MasterKeyError("production mode needs DANBAO_MASTER_KEY (32 bytes, base64)")
    path: Path = settings.var_dir / KEY_FILE
    if not path.exists():
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
    return _decode(path.read_text(), str(path))


def load_previous_master_key(settings: Settings) -> bytes | None:
    """The master key being retired (``DANBAO_MASTER_KEY_PREVIOUS``), during a rotation."""
    if not settings.master_key_previous:
        return None
    return _decode(settings.master_key_previous, "DANBAO_MASTER_KEY_PREVIOUS")


def new_data_key() -> bytes:
    return os.urandom(KEY_BYTES)


def wrap_data_key(master: bytes, data_key: bytes) -> bytes:
    return aes_key_wrap(master, data_key)


def unwrap_data_key(master: bytes, wrapped: bytes) -> bytes:
    return aes_key_unwrap(master, wrapped)
