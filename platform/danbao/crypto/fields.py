"""Encrypting one sensitive field value, and its keyed hash for equality search.

A stored value is a small self-describing envelope, ``enc:v1:<key version>:<base64>``,
where the base64 holds a fresh 96-bit nonce followed by the AES-256-GCM ciphertext and
tag. The associated data binds the tenant, the form and the field (and the key version),
so an envelope copied into another tenant's record or into another field does not
decrypt: :class:`DecryptError`, never a wrong value.

The blind index is HMAC-SHA256 under the tenant's separate index key, over the form, the
field and the value in its canonical form, so equal values give equal hashes within one
tenant and field, and nothing across tenants.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from danbao.forms.identifiers import normalise

PREFIX = "enc:v1:"
NONCE_BYTES = 12


class DecryptError(ValueError):
    """Not an envelope, no such key, or the envelope was altered or moved elsewhere."""


@dataclass(frozen=True)
class DataKey:
    """An unwrapped tenant key and its version (the version goes into every envelope)."""

    version: int
    key: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"DataKey(version={self.version})"


@dataclass(frozen=True)
class FieldPath:
    """Where a value lives: the form and the field key."""

    form_id: str
    field: str


def is_envelope(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def envelope_version(envelope: str) -> int:
    """The key version an envelope was sealed with."""
    if not is_envelope(envelope):
        raise DecryptError("not an encrypted value")
    version, sep, _ = envelope[len(PREFIX) :].partition(":")
    if not sep or not version.isdigit():
        raise DecryptError("malformed envelope")
    return int(version)


def _associated_data(tenant_id: str, path: FieldPath, version: int) -> bytes:
    return "\x1f".join(
        ("danbao-field-v1", str(tenant_id), path.form_id, path.field, str(version))
    ).encode()


def encrypt_value(key: DataKey, tenant_id: str, path: FieldPath, plaintext: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.key).encrypt(
        nonce, plaintext.encode(), _associated_data(tenant_id, path, key.version)
    )
    return f"{PREFIX}{key.version}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt_value(key: DataKey, tenant_id: str, path: FieldPath, envelope: str) -> str:
    version = envelope_version(envelope)
    if version != key.version:
        raise DecryptError(f"sealed with key version {version}, not {key.version}")
    try:
        raw = base64.b64decode(envelope.rsplit(":", 1)[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptError("malformed envelope") from exc
    if len(raw) <= NONCE_BYTES:
        raise DecryptError("malformed envelope")
    try:
        clear = AESGCM(key.key).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(tenant_id, path, version)
        )
    except InvalidTag as exc:
        raise DecryptError(
            f"{path.form_id}.{path.field}: does not decrypt here (altered, or moved from "
            "another tenant or field)"
        ) from exc
    return clear.decode()


def blind_index(
    index_key: bytes, form_id: str, field: str, value: str, fmt: str | None = None
) -> str:
    """HMAC-SHA256 (hex) of the value, normalised first when the field has a format."""
    if fmt:
        value = normalise(fmt, value)
    mac = hmac.HMAC(index_key, hashes.SHA256())
    mac.update("\x1f".join((form_id, field, value)).encode())
    return mac.finalize().hex()
