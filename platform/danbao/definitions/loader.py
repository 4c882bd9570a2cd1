"""Loading a bundle folder from disk (``tenants/<slug>/``)."""

from __future__ import annotations

from pathlib import Path

from .bundle import Bundle
from .errors import BundleInvalid
from .folder import read_folder
from .validate import validate_files


def load_bundle(path: Path, schemas_dir: Path | None = None) -> Bundle:
    """Read and validate a bundle folder; raise BundleInvalid listing every fault found."""
    reader = read_folder(Path(path))
    if reader.stopped:
        # A partial read would add misleading faults ("missing permissions.json").
        raise BundleInvalid(reader.errors)
    return validate_files(reader.files, reader.present, reader.errors, schemas_dir)
