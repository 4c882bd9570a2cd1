"""The repo's ``platform/`` folder must never shadow the standard library's ``platform``."""

import platform
import sysconfig
from pathlib import Path

from danbao.config import REPO_ROOT


def test_stdlib_platform_is_the_one_imported() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(platform.__file__).resolve().parent == stdlib
    assert callable(platform.python_version)


def test_platform_folder_is_not_a_package() -> None:
    assert (REPO_ROOT / "platform" / "danbao" / "__init__.py").exists()
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()
