"""Per-tenant keys: created on first use, stored wrapped by the master key, cached unwrapped.

Two purposes: ``data`` (AES-GCM for sensitive field values) and ``index`` (HMAC for the
equality-search hashes). Each is versioned: version 1 is created on first use, a rotation
adds the next (``add_version``, see ``crypto/rotation.py``), and the newest is the one new
writes use; older versions stay to open older envelopes. Creation is race-safe: two
requests creating the same key meet the unique (tenant, purpose, version) constraint,
and the loser reads the winner's row. Keys are read and created through the tenant-scoped
manager, so always inside the tenant's transaction (row-level security applies).
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from typing import Literal

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from danbao.crypto.fields import DataKey
from danbao.crypto.master_key import new_data_key, unwrap_data_key, wrap_data_key
from danbao.db.models import TenantKey
from danbao.tenancy.context import current_tenant

Purpose = Literal["data", "index"]
DATA: Purpose = "data"
INDEX: Purpose = "index"
FIRST_VERSION = 1


class KeyMissing(LookupError):
    """An envelope names a key version the tenant does not have."""


class TenantKeys:
    """The process's key ring: a bounded LRU of unwrapped keys by (tenant, purpose, version)."""

    def __init__(self, master: bytes, size: int = 1024, previous: bytes | None = None) -> None:
        self._master = master
        # During a master-key rotation, keys not yet rewrapped are still under the old one.
        self._previous = previous
        self._size = max(size, 2)
        self._keys: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._current: OrderedDict[tuple[str, str], int] = OrderedDict()

    def __repr__(self) -> str:
        return f"TenantKeys({len(self._keys)} cached)"

    def _remember(self, tenant_id: str, purpose: str, version: int, key: bytes) -> None:
        self._keys[(tenant_id, purpose, version)] = key
        self._keys.move_to_end((tenant_id, purpose, version))
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def _cached(self, tenant_id: str, purpose: str, version: int) -> bytes | None:
        key = self._keys.get((tenant_id, purpose, version))
        if key is not None:
            self._keys.move_to_end((tenant_id, purpose, version))
        return key

    def _unwrap(self, row: TenantKey) -> bytes:
        wrapped = base64.b64decode(row.wrapped_key)
        try:
            return unwrap_data_key(self._master, wrapped)
        except InvalidUnwrap:
            if self._previous is None:
                raise
            return unwrap_data_key(self._previous, wrapped)

    async def current(self, purpose: Purpose) -> DataKey:
        """The tenant's newest key of ``purpose``, created if the tenant has none yet."""
        tenant_id = str(current_tenant().tenant_id)
        version = self._current.get((tenant_id, purpose))
        if version is not None:
            key = self._cached(tenant_id, purpose, version)
            if key is not None:
                return DataKey(version, key)
        row = await TenantKey.filter(purpose=purpose).order_by("-version").first()
        if row is None:
            row = await self._create(purpose, FIRST_VERSION)
        key = self._unwrap(row)
        self._remember(tenant_id, purpose, row.version, key)
        self._current[(tenant_id, purpose)] = row.version
        while len(self._current) > self._size:
            self._current.popitem(last=False)
        return DataKey(row.version, key)

    async def get(self, purpose: Purpose, version: int) -> DataKey:
        """The tenant's key of ``purpose`` at ``version`` (to open an older envelope)."""
        tenant_id = str(current_tenant().tenant_id)
        key = self._cached(tenant_id, purpose, version)
        if key is None:
            row = await TenantKey.filter(purpose=purpose, version=version).first()
            if row is None:
                raise KeyMissing(f"no {purpose} key version {version}")
            key = self._unwrap(row)
            self._remember(tenant_id, purpose, version, key)
        return DataKey(version, key)

    async def add_version(self, purpose: Purpose) -> int:
        """Append the tenant's next key version of ``purpose``; new writes use it from now
        on in this process (others drop their cache when the change is announced)."""
        tenant_id = str(current_tenant().tenant_id)
        latest = await TenantKey.filter(purpose=purpose).order_by("-version").first()
        row = await self._create(purpose, latest.version + 1 if latest else FIRST_VERSION)
        self._current.pop((tenant_id, purpose), None)
        return row.version

    async def _create(self, purpose: Purpose, version: int) -> TenantKey:
        wrapped = base64.b64encode(wrap_data_key(self._master, new_data_key())).decode()
        try:
            async with in_transaction():  # a savepoint: a lost race leaves the caller's intact
                return await TenantKey.create(purpose=purpose, version=version, wrapped_key=wrapped)
        except IntegrityError:
            row = await TenantKey.filter(purpose=purpose, version=version).first()
            if row is None:
                raise
            return row

    def drop_tenant(self, tenant_id: str) -> int:
        gone = [k for k in self._keys if k[0] == tenant_id]
        for k in gone:
            del self._keys[k]
        for c in [c for c in self._current if c[0] == tenant_id]:
            del self._current[c]
        return len(gone)

    def clear(self) -> None:
        self._keys.clear()
        self._current.clear()
