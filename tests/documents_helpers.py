"""Shared by the documents tests: the starter template with a plain contract and letter."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import TEMPLATE

STARTER_DOCUMENTS = Path(__file__).parent / "fixtures" / "starter_documents"


def starter_with_documents(target: Path) -> Path:
    """A copy of the starter template with tests/fixtures/starter_documents laid over it."""
    shutil.copytree(TEMPLATE, target)
    shutil.copytree(STARTER_DOCUMENTS, target, dirs_exist_ok=True)
    return target
