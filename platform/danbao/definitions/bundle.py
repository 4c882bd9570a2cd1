"""A validated bundle: the tenant's whole configuration as one immutable value."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .layout import Kind, path_for, template_path


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: equal content always gives equal bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True)
class Bundle:
    """Only ever built by validation, so holding one means the content is sound.

    The dicts are the bundle's own; treat them as read-only (``to_dict`` returns a copy
    for anyone who needs to edit).
    """

    tenant: dict[str, Any]
    forms: dict[str, dict[str, Any]]
    workflows: dict[str, dict[str, Any]]
    permissions: dict[str, Any]
    reports: dict[str, dict[str, Any]]
    dictionaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Document kinds (documents/<id>.json): contract, letter, each naming a template."""
    templates: dict[str, str] = field(default_factory=dict)
    """Template file name (``letter.html``) -> its HTML text."""

    def to_dict(self) -> dict[str, Any]:
        """File path -> content, the same shape ``load_bundle`` reads and ``from_dict`` takes."""
        return copy.deepcopy(self._files())

    @classmethod
    def from_dict(cls, files: dict[str, Any], schemas_dir: Path | None = None) -> Bundle:
        """Validate again and rebuild; raise BundleInvalid."""
        # Imported here: validation builds Bundles, so it imports this module.
        from .validate import validate_bundle_dict

        return validate_bundle_dict(files, schemas_dir=schemas_dir)

    @classmethod
    def from_published(cls, files: dict[str, Any]) -> Bundle:
        """Rebuild a version that was validated when it was published.

        Published versions are immutable (the serving role cannot change them), so they
        are not validated again: that costs tens of milliseconds per load.
        """
        from .validate import _build

        return _build(files)

    @cached_property
    def content_hash(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(self._files())).hexdigest()

    @cached_property
    def role_ids(self) -> frozenset[str]:
        return frozenset(role["id"] for role in self.permissions["roles"])

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def _files(self) -> dict[str, Any]:
        files: dict[str, Any] = {"tenant.json": self.tenant, "permissions.json": self.permissions}
        for kind, items in (
            (Kind.FORM, self.forms),
            (Kind.WORKFLOW, self.workflows),
            (Kind.REPORT, self.reports),
            (Kind.DICTIONARY, self.dictionaries),
            (Kind.DOCUMENT, self.documents),
        ):
            files.update({path_for(kind, item_id): items[item_id] for item_id in sorted(items)})
        files.update({template_path(name): self.templates[name] for name in sorted(self.templates)})
        return files
