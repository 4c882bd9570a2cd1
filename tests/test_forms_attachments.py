"""Attachment files: names cleaned, types decided by extension and sniffed content."""

from __future__ import annotations

import pytest

from danbao.definitions.attachments import EXTENSIONS, AttachmentSpec
from danbao.forms.attachments import FILE_TYPES, clean_name, file_type_for

from .attachments_helpers import CSV_GB18030, EXE, HTML, PDF, PNG, xlsx_bytes

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
EVERYTHING = AttachmentSpec(EXTENSIONS, 10, 5)


def test_every_declarable_extension_has_a_content_check() -> None:
    assert set(FILE_TYPES) == set(EXTENSIONS)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("营业执照.pdf", "营业执照.pdf"),
        ("C:\\Users\\李\\扫描件.jpg", "扫描件.jpg"),
        ("../../etc/passwd", "passwd"),
        ("报\x00表\r\n.xlsx", "报表.xlsx"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_names_are_cleaned(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


@pytest.mark.parametrize(
    ("name", "head", "content_type"),
    [
        ("a.pdf", PDF, "application/pdf"),
        ("A.PDF", PDF, "application/pdf"),
        ("a.png", PNG, "image/png"),
        ("a.jpg", JPEG, "image/jpeg"),
        ("a.heic", HEIC, "image/heic"),
        ("a.xls", OLE, "application/vnd.ms-excel"),
        (
            "a.xlsx",
            xlsx_bytes(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("a.csv", CSV_GB18030, "text/csv"),
        ("a.txt", "说明".encode(), "text/plain"),
    ],
)
def test_files_that_are_what_they_say(name: str, head: bytes, content_type: str) -> None:
    kind = file_type_for(EVERYTHING, name, head)
    assert kind is not None and kind.content_type == content_type


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("a.pdf", EXE),  # a program renamed
        ("a.png", PDF),  # one allowed type posing as another
        ("a.csv", HTML),  # a page posing as text
        ("a.txt", SVG),
        ("a.txt", b"\x00\x01binary"),
        ("a.exe", EXE),  # not declarable at all
        ("noextension", PDF),
    ],
)
def test_files_that_are_not(name: str, head: bytes) -> None:
    assert file_type_for(EVERYTHING, name, head) is None


def test_only_the_fields_extensions_count() -> None:
    pdf_only = AttachmentSpec(("pdf",), 1, 1)
    assert file_type_for(pdf_only, "a.png", PNG) is None
    assert file_type_for(pdf_only, "a.pdf", PDF) is not None
