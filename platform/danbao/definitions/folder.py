"""Reading a bundle folder from disk into ``{relative path: parsed content}``.

Everything that can go wrong before validation proper is caught here: files the bundle
may not hold, symlinks that leave the bundle, special files, sizes over the limits,
and bytes that are not strict JSON.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from . import layout
from .errors import DefinitionError
from .jsonfile import decode, decode_text


class _TooBig(Exception):
    """The bundle as a whole is over a limit: stop reading."""


class FolderReader:
    """One pass over a bundle folder; results in ``files``, ``present`` and ``errors``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, Any] = {}
        self.present: set[str] = set()
        """Paths that exist, whether or not they parsed (so a broken file is not also 'missing')."""
        self.errors: list[DefinitionError] = []
        self.stopped = False
        """Reading ended early (a limit, or no folder): what was read is not the whole bundle."""
        self._count = 0
        self._total = 0

    def read(self) -> None:
        try:
            self.root = self.root.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            self._fail(f"cannot open bundle folder: {exc}")
            return
        if not self.root.is_dir():
            self._fail(f"{self.root} is not a folder")
            return
        with contextlib.suppress(_TooBig):
            self._read_root()

    def _read_root(self) -> None:
        for entry in self._list(self.root):
            name = entry.name
            if name in layout.SINGLE_FILES:
                self._read_file(entry, name)
            elif name in layout.FOLDERS:
                self._read_folder(entry, name)
            elif entry.is_dir():
                self._error(name + "/", f"unknown folder: a bundle holds only {layout.ALLOWED}")
            else:
                self._error(name, f"unknown file: a bundle holds only {layout.ALLOWED}")

    def _read_folder(self, entry: os.DirEntry[str], folder: str) -> None:
        where = self._inside(entry, folder + "/")
        if where is None:
            return
        if not where.is_dir():
            self._error(folder, "expected a folder")
            return
        for child in self._list(where):
            path = f"{folder}/{child.name}"
            if child.is_dir():
                self._error(path + "/", f"unknown folder: a bundle holds only {layout.ALLOWED}")
            elif layout.kind_of(path) is None:
                holds = "lowercase-named *.html" if folder == "templates" else "*.json"
                self._error(path, f"unknown file: {folder}/ holds only {holds} files")
            else:
                self._read_file(child, path)

    def _read_file(self, entry: os.DirEntry[str], path: str) -> None:
        self.present.add(path)
        where = self._inside(entry, path)
        if where is None:
            return
        try:
            info = where.stat()
        except OSError as exc:
            self._error(path, f"cannot read: {exc.strerror}")
            return
        if not stat.S_ISREG(info.st_mode):
            self._error(path, "not a regular file")
            return
        self._count += 1
        if self._count > layout.MAX_FILES:
            self._stop(f"bundle has more than {layout.MAX_FILES} files")
        if info.st_size > layout.MAX_FILE_BYTES:
            self._error(path, f"file is {info.st_size} bytes, over the 1 MiB limit")
            return
        self._total += info.st_size
        if self._total > layout.MAX_BUNDLE_BYTES:
            self._stop("bundle is over the 8 MiB limit")
        with where.open("rb") as fh:
            # Read at most one byte past the limit, in case the file grew since stat().
            raw = fh.read(layout.MAX_FILE_BYTES + 1)
        if len(raw) > layout.MAX_FILE_BYTES:
            self._error(path, "file is over the 1 MiB limit")
            return
        content, errors = decode_text(path, raw) if layout.is_text(path) else decode(path, raw)
        self.errors += errors
        if not errors:
            self.files[path] = content

    def _inside(self, entry: os.DirEntry[str], path: str) -> Path | None:
        """The entry's real location, or None (with an error) when a symlink leaves the bundle."""
        where = Path(entry.path)
        if not entry.is_symlink():
            return where
        try:
            target = where.resolve(strict=True)
        except (OSError, RuntimeError):
            self._error(path, "broken symlink")
            return None
        if not target.is_relative_to(self.root):
            self._error(path, "symlink points outside the bundle; refused")
            return None
        return target

    def _list(self, folder: Path) -> list[os.DirEntry[str]]:
        entries: list[os.DirEntry[str]] = []
        with os.scandir(folder) as it:
            for entry in it:
                entries.append(entry)
                # A folder of a million entries must not be listed in full.
                if len(entries) > layout.MAX_FILES:
                    self._stop(f"bundle has more than {layout.MAX_FILES} files")
        return sorted(entries, key=lambda e: e.name)

    def _error(self, path: str, message: str) -> None:
        self.errors.append(DefinitionError(path, "", message))

    def _fail(self, message: str) -> None:
        self.errors.append(DefinitionError("", "", message))
        self.stopped = True

    def _stop(self, message: str) -> None:
        self._fail(message)
        raise _TooBig


def read_folder(root: Path) -> FolderReader:
    reader = FolderReader(root)
    reader.read()
    return reader
