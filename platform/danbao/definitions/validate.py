"""Validating a bundle's parsed files: layout, sizes, meta-schemas, then cross-checks.

Every fault found is collected and reported together; a Bundle exists only when there
are none, so nothing half-valid is ever applied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import layout
from .bundle import Bundle, canonical_json
from .crosscheck import Catalog, crosscheck
from .errors import BundleInvalid, DefinitionError
from .formschema import check_form
from .jsonfile import depth_errors
from .layout import Kind
from .metaschema import validate as validate_file


def validate_bundle_dict(files: Mapping[str, Any], schemas_dir: Path | None = None) -> Bundle:
    """Validate already-parsed content keyed by bundle path (uploads, stored versions)."""
    errors: list[DefinitionError] = []
    # Copied so that later edits to the caller's dicts cannot change a validated Bundle.
    accepted = copy.deepcopy(_within_limits(files, errors))
    return validate_files(accepted, {p for p in files if isinstance(p, str)}, errors, schemas_dir)


def validate_files(
    files: Mapping[str, Any],
    present: set[str],
    errors: list[DefinitionError],
    schemas_dir: Path | None = None,
) -> Bundle:
    """Check ``files`` and build a Bundle, or raise BundleInvalid with ``errors`` plus all found.

    ``present`` lists paths that exist even if they could not be read, so a broken
    tenant.json is not reported as missing as well.
    """
    errors = list(errors)
    for required in layout.SINGLE_FILES:
        if required not in present:
            errors.append(DefinitionError(required, "", f"missing: every bundle needs {required}"))
    catalog = Catalog()
    valid: dict[str, Any] = {}
    for path in sorted(files):
        kind = layout.kind_of(path)
        if kind is None:
            errors.append(
                DefinitionError(path, "", f"unknown file: a bundle holds only {layout.ALLOWED}")
            )
            continue
        found = _check_file(kind, path, files[path], schemas_dir)
        errors += found
        _register(catalog, kind, path, None if found else files[path])
        if not found:
            valid[path] = files[path]
    errors += crosscheck(catalog)
    if errors:
        raise BundleInvalid(errors)
    return _build(valid)


def _within_limits(files: Mapping[str, Any], errors: list[DefinitionError]) -> dict[str, Any]:
    """The files that fit the size limits; stops at once when the bundle as a whole is over."""
    if len(files) > layout.MAX_FILES:
        raise BundleInvalid(
            [DefinitionError("", "", f"bundle has more than {layout.MAX_FILES} files")]
        )
    accepted: dict[str, Any] = {}
    total = 0
    for path in sorted(files, key=str):
        if not isinstance(path, str):
            errors.append(DefinitionError(str(path), "", "file paths must be strings"))
            continue
        content = files[path]
        too_deep = depth_errors(path, content)
        if too_deep:
            errors += too_deep
            continue
        try:
            size = len(canonical_json(content))
        except (TypeError, ValueError) as exc:
            errors.append(DefinitionError(path, "", f"not JSON content: {exc}"))
            continue
        if size > layout.MAX_FILE_BYTES:
            errors.append(DefinitionError(path, "", f"file is {size} bytes, over the 1 MiB limit"))
            continue
        total += size
        if total > layout.MAX_BUNDLE_BYTES:
            errors.append(DefinitionError("", "", "bundle is over the 8 MiB limit"))
            raise BundleInvalid(errors)
        accepted[path] = content
    return accepted


def _check_file(
    kind: Kind, path: str, content: Any, schemas_dir: Path | None
) -> list[DefinitionError]:
    errors = validate_file(kind, path, content, schemas_dir)
    if kind in (
        Kind.FORM,
        Kind.WORKFLOW,
        Kind.REPORT,
        Kind.DICTIONARY,
        Kind.DOCUMENT,
    ) and isinstance(content, dict):
        item_id = content.get("id")
        expected = layout.stem(path)
        if isinstance(item_id, str) and item_id != expected:
            errors.append(
                DefinitionError(
                    path,
                    "/id",
                    f"id {item_id!r} does not match the file name; expected {expected!r} "
                    f"or rename the file to {layout.path_for(kind, item_id)}",
                )
            )
    if kind is Kind.FORM and not errors:
        errors += check_form(path, content)
    return errors


def _register(catalog: Catalog, kind: Kind, path: str, content: Any) -> None:
    item_id = layout.stem(path)
    match kind:
        case Kind.TENANT:
            catalog.tenant = content
        case Kind.PERMISSIONS:
            catalog.permissions = content
        case Kind.FORM:
            catalog.forms[item_id] = content
        case Kind.WORKFLOW:
            catalog.workflows[item_id] = content
        case Kind.REPORT:
            catalog.reports[item_id] = content
        case Kind.DICTIONARY:
            catalog.dictionaries[item_id] = content
        case Kind.DOCUMENT:
            catalog.documents[item_id] = content
        case Kind.TEMPLATE:
            catalog.templates[path.rsplit("/", 1)[-1]] = content


def _build(files: dict[str, Any]) -> Bundle:
    def items(kind: Kind) -> dict[str, dict[str, Any]]:
        return {
            layout.stem(path): content
            for path, content in sorted(files.items())
            if layout.kind_of(path) is kind
        }

    return Bundle(
        tenant=files["tenant.json"],
        forms=items(Kind.FORM),
        workflows=items(Kind.WORKFLOW),
        permissions=files["permissions.json"],
        reports=items(Kind.REPORT),
        dictionaries=items(Kind.DICTIONARY),
        documents=items(Kind.DOCUMENT),
        templates={
            path.rsplit("/", 1)[-1]: text
            for path, text in sorted(files.items())
            if layout.kind_of(path) is Kind.TEMPLATE
        },
    )
