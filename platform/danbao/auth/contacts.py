"""A staff user's contact ids for messaging channels that do not take e-mail: the WeCom
(企业微信) user id and the mobile number. The mobile is personal data: sealed under the
tenant's data key (path ``user/mobile``), shown masked (``139****0001``), never in clear in
a log line or the audit trail, which says ``[changed]``."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from danbao.audit import record_event
from danbao.auth.assignments import AssignmentError, AssignmentInvalid
from danbao.crypto.fields import (
    DecryptError,
    FieldPath,
    decrypt_value,
    encrypt_value,
    envelope_version,
)
from danbao.crypto.tenant_keys import DATA, TenantKeys
from danbao.db.models import User
from danbao.forms.identifiers import MOBILE, check_mobile, normalise
from danbao.plugins.sdk import Recipient
from danbao.tenancy.context import current_tenant

log = logging.getLogger(__name__)
MOBILE_PATH = FieldPath("user", "mobile")
# WeCom account ids: 1-64 letters, digits, "_", "-", "." or "@" (企业微信 成员 UserID).
WECOM_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
UNCHANGED: Any = ...


@dataclass(frozen=True)
class Contacts:
    wecom_userid: str | None
    mobile: str | None  # 11 digits, clear: only in memory, for sending and masking

    @property
    def mobile_masked(self) -> str | None:
        return f"{self.mobile[:3]}****{self.mobile[-4:]}" if self.mobile else None

    def address(self, email: str, recipient: Recipient) -> str | None:
        """The identifier a channel wanting ``recipient`` sends this user to, if any."""
        if recipient is Recipient.WECOM_USERID:
            return self.wecom_userid
        if recipient is Recipient.MOBILE:
            return self.mobile
        return email


def check_contacts(wecom_userid: Any, mobile: Any) -> list[AssignmentError]:
    """Errors of the given parts (``...``: not given; None or "": clear it)."""
    errors: list[AssignmentError] = []
    if wecom_userid not in (UNCHANGED, None, "") and not (
        isinstance(wecom_userid, str) and WECOM_USERID.match(wecom_userid.strip())
    ):
        errors.append(AssignmentError("/wecom_userid", "wecom_userid", {}))
    if mobile not in (UNCHANGED, None, "") and (
        not isinstance(mobile, str) or check_mobile(mobile) is not None
    ):
        errors.append(AssignmentError("/mobile", "mobile", {}))
    return errors


async def seal_mobile(keys: TenantKeys, mobile: str) -> str:
    key = await keys.current(DATA)
    return encrypt_value(key, str(current_tenant().tenant_id), MOBILE_PATH, mobile)


async def unseal_mobile(keys: TenantKeys, envelope: str) -> str:
    key = await keys.get(DATA, envelope_version(envelope))
    return str(decrypt_value(key, str(current_tenant().tenant_id), MOBILE_PATH, envelope))


async def contacts_of(keys: TenantKeys, user: User) -> Contacts:
    mobile = None
    if user.mobile_sealed:
        try:
            mobile = await unseal_mobile(keys, user.mobile_sealed)
        except DecryptError:  # shown as none on file; setting a new one replaces it
            log.warning("user %s: the sealed mobile does not open", user.id)
    return Contacts(user.wecom_userid, mobile)


async def contacts_by_user(
    keys: TenantKeys, rows: Iterable[dict[str, Any]], recipient: Recipient
) -> dict[Any, str | None]:
    """user id -> the identifier ``recipient`` names (rows: id, email, wecom_userid,
    mobile_sealed); the mobile is unsealed only when the channel wants it."""
    found: dict[Any, str | None] = {}
    for row in rows:
        sealed = row["mobile_sealed"]
        mobile = None
        if recipient is Recipient.MOBILE and sealed:
            try:
                mobile = await unseal_mobile(keys, sealed)
            except DecryptError:  # counts as no mobile: that one fails, the rest go out
                log.warning("user %s: the sealed mobile does not open", row["id"])
        found[row["id"]] = Contacts(row["wecom_userid"], mobile).address(row["email"], recipient)
    return found


async def change_contacts(
    keys: TenantKeys, user: User, *, wecom_userid: Any = UNCHANGED, mobile: Any = UNCHANGED
) -> User:
    """Set or clear (None / "") the given ids; raise AssignmentInvalid; audit the change
    with the WeCom id in clear and the mobile only as ``[changed]``."""
    errors = check_contacts(wecom_userid, mobile)
    if errors:
        raise AssignmentInvalid(errors)
    changes: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if wecom_userid is not UNCHANGED:
        new_id = (wecom_userid or "").strip() or None
        if new_id != user.wecom_userid:
            changes["wecom_userid"] = new_id
            data["wecom_userid"] = {"from": user.wecom_userid, "to": new_id}
    if mobile is not UNCHANGED:
        new_mobile = normalise(MOBILE, mobile) if mobile else None
        old_mobile = (await contacts_of(keys, user)).mobile
        if new_mobile != old_mobile:
            changes["mobile_sealed"] = await seal_mobile(keys, new_mobile) if new_mobile else None
            data["mobile"] = "[changed]" if new_mobile else "[removed]"
    if not changes:
        return user
    await User.filter(id=user.id).update(**changes)
    await record_event("user.contacts_changed", "user", str(user.id), data)
    for name, value in changes.items():
        setattr(user, name, value)
    return user
