"""Who an applicant is: a mobile number or an e-mail address, kept as a keyed hash (to
find them) and sealed (to send the next code), never in clear; and the record-owner
identity each applicant gets (an inactive ``app_user`` with no role)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from danbao.audit import record_event
from danbao.auth.login import check_email
from danbao.crypto.fields import (
    FieldPath,
    blind_index,
    decrypt_value,
    encrypt_value,
    envelope_version,
)
from danbao.crypto.tenant_keys import DATA, INDEX, TenantKeys
from danbao.db.models import Applicant, User
from danbao.forms.identifiers import MOBILE, check_mobile, normalise
from danbao.ids import new_id
from danbao.tenancy.context import current_tenant

DESTINATION = FieldPath("portal", "destination")
# Never a valid argon2 hash: verify_password answers False, so no password signs it in.
NO_PASSWORD = "!portal-applicant"  # noqa: S105
OWNER_DOMAIN = "portal.invalid"  # RFC 2606: an address that can never receive mail
OWNER_SUFFIX = "@" + OWNER_DOMAIN  # staff lists and pickers leave these identities out


class BadDestination(ValueError):
    """Neither a Chinese mobile number nor an e-mail address."""


@dataclass(frozen=True)
class Destination:
    channel: str  # mobile | email
    value: str  # normalised: 11 digits, or a lower-cased address

    @property
    def masked(self) -> str:
        if self.channel == "mobile":
            return f"{self.value[:3]}****{self.value[-4:]}"
        local, _, domain = self.value.partition("@")
        return f"{local[:1]}***@{domain}"

    @property
    def text(self) -> str:
        return f"{self.channel}:{self.value}"


def parse_destination(raw: str) -> Destination:
    """A mobile number (any spacing, full-width digits, +86) or an e-mail address."""
    text = raw.strip()
    if "@" in text:
        try:
            return Destination("email", check_email(text))
        except ValueError as exc:
            raise BadDestination(text) from exc
    if not text or check_mobile(text) is not None:
        raise BadDestination(text)
    return Destination("mobile", normalise(MOBILE, text))


def from_text(text: str) -> Destination:
    channel, _, value = text.partition(":")
    return Destination(channel, value)


async def destination_hash(keys: TenantKeys, destination: Destination) -> str:
    index_key = await keys.current(INDEX)
    return blind_index(index_key.key, DESTINATION.form_id, DESTINATION.field, destination.text)


async def seal(keys: TenantKeys, destination: Destination) -> str:
    data_key = await keys.current(DATA)
    return encrypt_value(data_key, str(current_tenant().tenant_id), DESTINATION, destination.text)


async def unseal(keys: TenantKeys, envelope: str) -> Destination:
    data_key = await keys.get(DATA, envelope_version(envelope))
    return from_text(
        decrypt_value(data_key, str(current_tenant().tenant_id), DESTINATION, envelope)
    )


async def applicant_for(
    keys: TenantKeys, destination: Destination, digest: str, sealed: str
) -> Applicant:
    """The applicant signing in with ``destination``, made on first sign-in with their own
    record-owner user (inactive, no role, an address that receives nothing)."""
    found = await Applicant.filter(destination_hash=digest).first()
    now = datetime.now(UTC)
    if found is not None:
        await Applicant.filter(id=found.id).update(last_login_at=now)
        return found
    applicant_id = new_id()
    owner = await User.create(
        email=f"applicant-{applicant_id}@{OWNER_DOMAIN}",
        name=f"门户客户 {destination.masked}",
        password_hash=NO_PASSWORD,
        roles=[],
        is_active=False,
    )
    applicant = await Applicant.create(
        id=applicant_id,
        user_id=owner.id,
        channel=destination.channel,
        destination_hash=digest,
        destination_sealed=sealed,
        last_login_at=now,
    )
    await record_event(
        "portal.applicant_created",
        "applicant",
        str(applicant.id),
        {"channel": destination.channel, "destination": destination.masked, "user": str(owner.id)},
    )
    return applicant
