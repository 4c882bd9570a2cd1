"""Files for attachment fields: is a file what its name claims to be?

The field's limits come from its ``x-attachment`` declaration
(``danbao.definitions.attachments``). A file is accepted when its extension is in the
field's ``accept`` list *and* its content, sniffed by puremagic, is of that kind: a renamed
``.exe`` is refused as a PDF, an HTML page as a CSV.
"""

from __future__ import annotations

import codecs
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import puremagic

from danbao.definitions.attachments import AttachmentSpec

SNIFF_BYTES = 64 * 1024
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class FileType:
    """``content_type`` is what a download says; ``signs`` are the puremagic extensions or
    MIME types of which one must appear among the sniffed candidates (empty: plain text)."""

    content_type: str
    signs: frozenset[str]

    @property
    def is_text(self) -> bool:
        return not self.signs


def _type(content_type: str, *signs: str) -> FileType:
    return FileType(content_type, frozenset(signs))


_JPEG = _type("image/jpeg", ".jpg", ".jpeg", ".jfif", ".jpe")
_OLE = ("application/x-ole-storage", ".doc", ".xls")
# Office Open XML and OFD are zip containers; a header sniff sees the container.
_ZIP = (".zip", ".docx", ".xlsx", "application/zip")

FILE_TYPES: Mapping[str, FileType] = {  # one per definitions.attachments.EXTENSIONS
    "pdf": _type("application/pdf", ".pdf"),
    "jpg": _JPEG,
    "jpeg": _JPEG,
    "png": _type("image/png", ".png"),
    "gif": _type("image/gif", ".gif"),
    "webp": _type("image/webp", ".webp"),
    "tif": _type("image/tiff", ".tif", ".tiff"),
    "tiff": _type("image/tiff", ".tif", ".tiff"),
    "heic": _type("image/heic", ".heif", ".heic", "image/heif"),
    "doc": _type("application/msword", *_OLE),
    "xls": _type("application/vnd.ms-excel", *_OLE),
    "docx": _type("application/vnd.openxmlformats-officedocument.wordprocessingml.document", *_ZIP),
    "xlsx": _type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", *_ZIP),
    "ofd": _type("application/ofd", *_ZIP),  # China's e-invoice and e-document format
    "zip": _type("application/zip", *_ZIP),
    "txt": _type("text/plain"),  # UTF-8 or GB18030: the bytes say, not a header
    "csv": _type("text/csv"),
}

# Text that a browser would run if it were ever rendered: never accepted as plain text.
_ACTIVE_TEXT = frozenset({"text/html", "image/svg+xml", "application/xml", "text/xml"})


def clean_name(raw: str) -> str:
    """The file's own name: no directories (old browsers send a path), no control
    characters, NFC, at most 255 characters with the extension kept."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > MAX_NAME_LENGTH:
        stem, ext = os.path.splitext(name)
        name = stem[: MAX_NAME_LENGTH - len(ext)] + ext
    return name


def extension_of(name: str) -> str:
    return os.path.splitext(name)[1].lower().lstrip(".")


def sniff(head: bytes) -> frozenset[str]:
    """puremagic's candidate extensions and MIME types for the first bytes of a file."""
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return frozenset()
    return frozenset(m.extension.lower() for m in matches if m.extension) | frozenset(
        m.mime_type.lower() for m in matches if m.mime_type
    )


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GB18030
        try:
            # Incremental: the head may end inside a multi-byte character.
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return True
        except UnicodeDecodeError:
            continue
    return False


def file_type_for(spec: AttachmentSpec, name: str, head: bytes) -> FileType | None:
    """The accepted type of a file named ``name`` starting with ``head``, or None when its
    extension is not allowed or its content is not what the extension says."""
    ext = extension_of(name)
    if ext not in spec.accept or ext not in FILE_TYPES:
        return None
    kind = FILE_TYPES[ext]
    signs = sniff(head)
    if kind.is_text:
        return kind if _is_text(head) and not signs & _ACTIVE_TEXT else None
    return kind if signs & kind.signs else None
