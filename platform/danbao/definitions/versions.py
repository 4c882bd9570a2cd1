"""Published definition versions: immutable, numbered, content-hashed, for the tenant in context."""

from __future__ import annotations

from cachetools import LRUCache
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.db.models import DefinitionVersion
from danbao.definitions.bundle import Bundle
from danbao.definitions.diff import Change, diff_bundles
from danbao.tenancy.context import current_tenant


class VersionNotFound(LookupError):
    pass


async def publish(bundle: Bundle, *, note: str = "") -> tuple[DefinitionVersion, bool]:
    """Publish ``bundle`` as the next version; an unchanged bundle returns the latest one.

    Returns ``(version, created)``. All or nothing: the version and its audit event commit
    together or not at all.
    """
    ctx = current_tenant()
    content_hash = bundle.content_hash
    for _attempt in range(5):
        try:
            async with in_transaction():
                latest = await DefinitionVersion.filter().order_by("-number").first()
                if latest is not None and latest.content_hash == content_hash:
                    return latest, False
                version = await DefinitionVersion.create(
                    number=(latest.number + 1) if latest else 1,
                    content_hash=content_hash,
                    bundle=bundle.to_dict(),
                    published_by=f"{ctx.principal.kind}:{ctx.principal.id}",
                    note=note,
                )
                await record_event(
                    "definitions.published",
                    "definition_version",
                    str(version.number),
                    {"content_hash": content_hash, "note": note},
                )
                return version, True
        except IntegrityError:
            continue  # another publisher took the number; read the new latest and retry
    raise RuntimeError("could not publish: too many concurrent publishers")


async def list_versions() -> list[DefinitionVersion]:
    return (
        await DefinitionVersion.filter()
        .order_by("number")
        .only("id", "tenant_id", "number", "content_hash", "published_at", "published_by", "note")
    )


async def get_version(number: int) -> DefinitionVersion:
    version = await DefinitionVersion.filter(number=number).first()
    if version is None:
        raise VersionNotFound(f"definition version {number} does not exist")
    return version


async def diff_versions(old: int, new: int) -> list[Change]:
    a, b = await get_version(old), await get_version(new)
    return diff_bundles(a.bundle, b.bundle)


class ActiveBundles:
    """The latest published bundle of the tenant in context, parsed once per content.

    Keyed by content hash: a new version is a new key (nothing to invalidate), and the
    many tenants still on the same template share one parsed bundle. Bounded, so ten
    thousand idle tenants cost nothing.
    """

    def __init__(self, maxsize: int = 256) -> None:
        self._cache: LRUCache[str, Bundle] = LRUCache(maxsize)

    async def current(self) -> tuple[int, Bundle] | None:
        head = (
            await DefinitionVersion.filter()
            .order_by("-number")
            .first()
            .values("number", "content_hash")
        )
        if head is None:
            return None
        bundle = self._cache.get(head["content_hash"])
        if bundle is None:
            version = await get_version(head["number"])
            bundle = Bundle.from_published(version.bundle)
            self._cache[head["content_hash"]] = bundle
        return head["number"], bundle
