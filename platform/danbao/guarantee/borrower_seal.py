"""The project's sealed borrower certificate number under a data-key rotation.

``project.borrower_id_sealed`` is an AES-GCM envelope like a record's sensitive field
(``service.BORROWER`` names it in the associated data). The tenant's re-encryption job
(``records/reencrypt.py``) moves it to the newest data key with ``reseal``. The keyed
hash ``borrower_id_hash`` is made with the tenant's *index* key, which a data-key
rotation leaves alone (as for records' blind indexes, see ``danbao.key_rotation``): the
hash stays as it is and per-borrower totals keep matching across the move.
"""

from __future__ import annotations

from danbao.crypto.fields import DataKey, decrypt_value, encrypt_value, envelope_version
from danbao.crypto.tenant_keys import DATA, TenantKeys
from danbao.tenancy.context import current_tenant

from .service import BORROWER


async def reseal(keys: TenantKeys, envelope: str, target: DataKey) -> str | None:
    """``envelope`` opened and sealed again under ``target`` (same path, same associated
    data), or None when it already is. Raises DecryptError / KeyMissing when it does not
    open here (altered, or moved from another tenant or field)."""
    version = envelope_version(envelope)
    if version == target.version:
        return None
    tenant_id = str(current_tenant().tenant_id)
    old = await keys.get(DATA, version)
    return encrypt_value(
        target, tenant_id, BORROWER, decrypt_value(old, tenant_id, BORROWER, envelope)
    )
