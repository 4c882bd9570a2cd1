"""The master key: generated once in the embedded mode, required in production."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from danbao.config import Settings
from danbao.crypto.master_key import (
    MasterKeyError,
    load_master_key,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)


def _embedded(settings: Settings, var: Path) -> Settings:
    return dataclasses.replace(settings, var_dir=var, database_url="sqlite://x", master_key=None)


async def test_generated_once_with_private_permissions(settings: Settings, tmp_path: Path) -> None:
    embedded = _embedded(settings, tmp_path / "var")
    first = load_master_key(embedded)
    assert len(first) == 32 and load_master_key(embedded) == first
    assert (os.stat(tmp_path / "var" / "master.key").st_mode & 0o777) == 0o600


async def test_production_requires_a_valid_key(settings: Settings) -> None:
    with pytest.raises(MasterKeyError, match="DANBAO_MASTER_KEY"):
        load_master_key(dataclasses.replace(settings, master_key=None))
    with pytest.raises(MasterKeyError, match="32 bytes"):
        load_master_key(
            dataclasses.replace(settings, master_key=base64.b64encode(b"short").decode())
        )
    key = base64.b64encode(b"k" * 32).decode()
    assert load_master_key(dataclasses.replace(settings, master_key=key)) == b"k" * 32


async def test_data_keys_wrap_and_refuse_the_wrong_master() -> None:
    master, other, data_key = new_data_key(), new_data_key(), new_data_key()
    wrapped = wrap_data_key(master, data_key)
    assert wrapped != data_key and unwrap_data_key(master, wrapped) == data_key
    with pytest.raises(InvalidUnwrap):
        unwrap_data_key(other, wrapped)
