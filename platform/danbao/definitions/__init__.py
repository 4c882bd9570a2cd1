"""Tenant definition bundles: loading, validation, cross-checks, hashing, diffs.

A bundle is a folder (or the same content uploaded) holding ``tenant.json``,
``permissions.json`` and ``forms/``, ``workflows/``, ``reports/``, ``dictionaries/``; see
docs/ARCHITECTURE.md, "Definitions: the low-code core".
"""

from .bundle import Bundle
from .diff import Change, diff_bundles
from .errors import BundleInvalid, DefinitionError
from .loader import load_bundle
from .numbering import NumberingPattern
from .validate import validate_bundle_dict

__all__ = [
    "Bundle",
    "BundleInvalid",
    "Change",
    "DefinitionError",
    "NumberingPattern",
    "diff_bundles",
    "load_bundle",
    "validate_bundle_dict",
]
