"""Which files a bundle may hold, and how big it may grow."""

from __future__ import annotations

import re
from enum import Enum

MAX_FILE_BYTES = 1024 * 1024
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_FILES = 500

ALLOWED = (
    "tenant.json, permissions.json, forms/*.json, workflows/*.json, reports/*.json, "
    "dictionaries/*.json, documents/*.json, templates/*.html"
)

_ID_FILE = re.compile(r"[^/]+\.json")
_TEMPLATE_FILE = re.compile(r"[a-z][a-z0-9_-]{0,62}\.html")


class Kind(Enum):
    """A kind of definition file; the value names its meta-schema in ``schemas/``."""

    TENANT = "tenant"
    PERMISSIONS = "permissions"
    FORM = "form"
    WORKFLOW = "workflow"
    REPORT = "report"
    DICTIONARY = "dictionary"
    DOCUMENT = "document"
    TEMPLATE = "template"
    """An HTML template: text, not JSON, checked by ``templates.py`` (no meta-schema)."""


JSON_KINDS = tuple(kind for kind in Kind if kind is not Kind.TEMPLATE)


SINGLE_FILES = {"tenant.json": Kind.TENANT, "permissions.json": Kind.PERMISSIONS}
FOLDERS = {
    "forms": Kind.FORM,
    "workflows": Kind.WORKFLOW,
    "reports": Kind.REPORT,
    "dictionaries": Kind.DICTIONARY,
    "documents": Kind.DOCUMENT,
    "templates": Kind.TEMPLATE,
}
FOLDER_OF = {kind: folder for folder, kind in FOLDERS.items()}


def kind_of(path: str) -> Kind | None:
    """The kind of a bundle-relative path, or None when the bundle may not hold it."""
    if path in SINGLE_FILES:
        return SINGLE_FILES[path]
    folder, _, name = path.partition("/")
    if folder not in FOLDERS:
        return None
    kind = FOLDERS[folder]
    pattern = _TEMPLATE_FILE if kind is Kind.TEMPLATE else _ID_FILE
    return kind if pattern.fullmatch(name) else None


def is_text(path: str) -> bool:
    """Held as text (a template), not parsed JSON."""
    return kind_of(path) is Kind.TEMPLATE


def stem(path: str) -> str:
    """``forms/application.json`` -> ``application``: the id the file must carry."""
    return path.rsplit("/", 1)[-1].removesuffix(".json")


def path_for(kind: Kind, item_id: str) -> str:
    return f"{FOLDER_OF[kind]}/{item_id}.json"


def template_path(name: str) -> str:
    """``letter.html`` -> ``templates/letter.html``."""
    return f"{FOLDER_OF[Kind.TEMPLATE]}/{name}"
