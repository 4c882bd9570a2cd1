"""Operator actions on keys: rotate a tenant's data key, rewrap every tenant key under a
new master key. (Beside ``provisioning``: they audit in the tenant's chain and start jobs,
which the ``crypto`` package below them may not.)

Data key. ``rotate_data_key`` appends the next ``data`` version (rows are never changed
or removed, so every older envelope still opens); new writes seal under it at once, and
``records/reencrypt.py`` then moves the tenant's existing envelopes to it in batches. A
record is rewritten inside one transaction, old envelope to new, so no moment exists
where it does not decrypt.

The ``index`` key (HMAC of the equality-search hashes) is deliberately not rotated with
it. A blind index only confirms a guessed value, it never yields one, and rotating it
would leave searches blind for every record not yet re-indexed (or need a second hash
per value during the move). Rotating the data key is what a suspected key exposure or a
routine schedule needs; the index key stays separate and stable.

Master key. ``rewrap_tenant_keys`` unwraps each tenant key with the retiring master key
and wraps it with the new one, tenant by tenant, each tenant in its own transaction with
an audit event; a key already under the new master key is left alone, so a rerun after
an interruption finishes the job. Records are untouched: the master key never encrypts
data itself. Serving processes keep working throughout when they run with the new key in
``DANBAO_MASTER_KEY`` and the old in ``DANBAO_MASTER_KEY_PREVIOUS`` (``TenantKeys``
tries both); see docs/security.md for the order of steps.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.crypto.master_key import unwrap_data_key, wrap_data_key
from danbao.crypto.tenant_keys import DATA, TenantKeys
from danbao.db.models import Tenant, TenantKey
from danbao.jobs import JobQueue
from danbao.provisioning import get_tenant, operator_context
from danbao.records import reencrypt
from danbao.records.reencrypt import BATCH
from danbao.tenancy.context import tenant_scope


class RewrapError(RuntimeError):
    """A tenant key that neither master key unwraps: nothing of that tenant was changed."""


@dataclass(frozen=True)
class Rotation:
    tenant_id: str
    version: int
    job_id: str


async def add_data_key_version(slug: str, keys: TenantKeys, *, operator: str) -> tuple[str, int]:
    """The rotation's first step: the tenant's next data-key version, audited; returns
    (tenant id, version). New writes use it from now on; nothing is re-encrypted yet."""
    tenant = await get_tenant(slug)
    with tenant_scope(operator_context(tenant, operator)):
        async with in_transaction():
            version = await keys.add_version(DATA)
            await record_event(
                "tenant_key.rotated",
                "tenant_key",
                f"data:{version}",
                {"purpose": DATA, "version": version},
            )
    return str(tenant.id), version


async def rotate_data_key(
    slug: str, keys: TenantKeys, queue: JobQueue, *, operator: str, batch: int = BATCH
) -> Rotation:
    """Add the tenant's next data-key version (audited), then start re-encrypting its
    records. The job is enqueued after the new version has committed, so a worker never
    looks for a key that is not there yet."""
    await add_data_key_version(slug, keys, operator=operator)
    return await reencrypt_tenant(slug, keys, queue, operator=operator, batch=batch)


async def reencrypt_tenant(
    slug: str, keys: TenantKeys, queue: JobQueue, *, operator: str, batch: int = BATCH
) -> Rotation:
    """Start (again) moving the tenant's records to its newest data key: after an
    interrupted job, or to pick up records a process with a stale key cache wrote."""
    tenant = await get_tenant(slug)
    with tenant_scope(operator_context(tenant, operator)):
        async with in_transaction():
            version = (await keys.current(DATA)).version
        job_id = await reencrypt.enqueue(queue, version, batch=batch)
    return Rotation(str(tenant.id), version, job_id)


@dataclass(frozen=True)
class RewrapReport:
    tenants: int
    rewrapped: int
    already: int


async def rewrap_tenant_keys(old: bytes, new: bytes, *, operator: str) -> RewrapReport:
    """Every tenant's keys from ``old`` to ``new`` (as the owner; the app role may not update
    ``tenant_key``). Idempotent: keys already under ``new`` are counted, not touched."""
    if old == new:
        raise ValueError("the new master key is the old one")
    rewrapped = already = 0
    tenants = await Tenant.all().order_by("slug")
    for tenant in tenants:
        with tenant_scope(operator_context(tenant, operator)):
            async with in_transaction():
                changed = 0
                for row in await TenantKey.all().order_by("purpose", "version"):
                    wrapped = base64.b64decode(row.wrapped_key)
                    if _unwraps(new, wrapped):
                        already += 1
                        continue
                    if not _unwraps(old, wrapped):
                        raise RewrapError(
                            f"{tenant.slug}: {row.purpose} key version {row.version} opens "
                            "with neither master key"
                        )
                    fresh = wrap_data_key(new, unwrap_data_key(old, wrapped))
                    await TenantKey.filter(id=row.id).update(
                        wrapped_key=base64.b64encode(fresh).decode()
                    )
                    changed += 1
                if changed:
                    await record_event(
                        "tenant_key.rewrapped", "tenant_key", "master", {"keys": changed}
                    )
                rewrapped += changed
    return RewrapReport(len(tenants), rewrapped, already)


def _unwraps(master: bytes, wrapped: bytes) -> bool:
    try:
        unwrap_data_key(master, wrapped)
    except InvalidUnwrap:
        return False
    return True
