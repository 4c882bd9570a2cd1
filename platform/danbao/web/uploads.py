"""Reading a multipart/form-data upload as it arrives, with the limits enforced while
reading.

Starlette's ``request.form()`` spools every file whole before a handler sees it, whatever
its size. Here the body is fed chunk by chunk to python-multipart's parser: each file is
counted and hashed as it streams into a spooled temporary file, and the read stops the
moment a file passes the field's size limit (or the body passes the total a request with
``max_files`` full files could need). Nothing is kept from a refused upload.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any, cast

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from danbao.forms.attachments import SNIFF_BYTES, clean_name

SPOOL_BYTES = 1024 * 1024  # a file larger than this waits on disk, not in memory
OVERHEAD_BYTES = 64 * 1024  # part headers and small fields around the files
MAX_FIELD_BYTES = 4 * 1024  # a plain (non-file) part


class UploadRefused(Exception):
    """``reason``: too_large, too_many, no_file, bad_request; ``name``: the file's name."""

    def __init__(self, reason: str, name: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.name = name


@dataclass
class ReceivedFile:
    name: str
    spool: IO[bytes]
    size: int = 0
    head: bytes = b""
    _hash: Any = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return str(self._hash.hexdigest())

    def close(self) -> None:
        self.spool.close()


class _Reader:
    def __init__(self, field_name: str, max_bytes: int, max_files: int) -> None:
        self.field_name = field_name
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.files: list[ReceivedFile] = []
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self._current: ReceivedFile | None = None
        self._field_bytes = 0

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._current, self._field_bytes = {}, None, 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        filename = options.get(b"filename")
        if filename is None or options.get(b"name", b"").decode("latin-1") != self.field_name:
            return  # a plain field, or a file under another name: read past it
        name = clean_name(filename.decode("utf-8", errors="replace"))
        if len(self.files) >= self.max_files:
            raise UploadRefused("too_many", name)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by the caller
        self._current = ReceivedFile(name, spool)
        self.files.append(self._current)

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        current = self._current
        if current is None:
            self._field_bytes += len(chunk)
            if self._field_bytes > MAX_FIELD_BYTES:
                raise UploadRefused("bad_request")
            return
        current.size += len(chunk)
        if current.size > self.max_bytes:
            raise UploadRefused("too_large", current.name)
        if len(current.head) < SNIFF_BYTES:
            current.head += chunk[: SNIFF_BYTES - len(current.head)]
        current._hash.update(chunk)
        current.spool.write(chunk)

    def _end(self) -> None:
        self._current = None


async def receive_files(
    request: Request, *, field_name: str, max_bytes: int, max_files: int
) -> list[ReceivedFile]:
    """The files sent under ``field_name``, each rewound, or UploadRefused. The caller
    closes them (``ReceivedFile.close``)."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if (
        not request.headers.get("content-type", "").startswith("multipart/form-data")
        or not boundary
    ):
        raise UploadRefused("bad_request")
    ceiling = max_files * max_bytes + OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > ceiling:
        raise UploadRefused("too_large")  # refused before a byte of it is read
    reader = _Reader(field_name, max_bytes, max_files)
    parser = MultipartParser(boundary, cast(Any, reader.callbacks()))
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > ceiling:
                raise UploadRefused("too_large")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        _close(reader.files)
        raise UploadRefused("bad_request") from exc
    except BaseException:
        _close(reader.files)
        raise
    if not reader.files:
        raise UploadRefused("no_file")
    for received in reader.files:
        received.spool.seek(0)
    return reader.files


def _close(files: list[ReceivedFile]) -> None:
    for received in files:
        received.close()
