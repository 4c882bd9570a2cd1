"""Which files a bundle may hold, and how big it may grow."""

from __future__ import annotations

import re
from enum import Enum

MAX_FILE_BYTES = 1024 * 1024
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_FILES = 500

ALLOWED = (
    "tenant.json, permissions.json, forms/*.json, workflows/*.json, reports/*.json, "
    "dictionaries/*.json"
)

_ID_FILE = re.compile(r"[^/]+\.json")


class Kind(Enum):
    """A kind of definition file; the value names its meta-schema in ``schemas/``."""

    TENANT = "tenant"
    PERMISSIONS = "permissions"
    FORM = "form"
    WORKFLOW = "workflow"
    REPORT = "report"
    DICTIONARY = "dictionary"


SINGLE_FILES = {"tenant.json": Kind.TENANT, "permissions.json": Kind.PERMISSIONS}
FOLDERS = {
    "forms": Kind.FORM,
    "workflows": Kind.WORKFLOW,
    "reports": Kind.REPORT,
    "dictionaries": Kind.DICTIONARY,
}
FOLDER_OF = {kind: folder for folder, kind in FOLDERS.items()}


def kind_of(path: str) -> Kind | None:
    """The kind of a bundle-relative path, or None when the bundle may not hold it."""
    if path in SINGLE_FILES:
        return SINGLE_FILES[path]
    folder, _, name = path.partition("/")
    if folder in FOLDERS and _ID_FILE.fullmatch(name):
        return FOLDERS[folder]
    return None


def stem(path: str) -> str:
    """``forms/application.json`` -> ``application``: the id the file must carry."""
    return path.rsplit("/", 1)[-1].removesuffix(".json")


def path_for(kind: Kind, item_id: str) -> str:
    return f"{FOLDER_OF[kind]}/{item_id}.json"
