"""Browser packages installed from npm (``make install`` runs ``npm ci``), served by us.

Pages never load scripts from a CDN. Each entry exposes one installed package's
distribution folder at ``/vendor/<name>/``; only what is listed here is reachable,
not the whole of ``node_modules``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from danbao.config import REPO_ROOT

NODE_MODULES = REPO_ROOT / "node_modules"

# name under /vendor/ -> folder inside node_modules (a package's built files).
VENDORED: dict[str, str] = {
    # CEL in the browser, the same language cel-python evaluates on the server (ES modules
    # with relative imports only, so no bundler): console/static/logic.js.
    "cel-js": "@marcbachmann/cel-js/lib",
    # Exact decimal rounding of computed numbers, as the server's decimal module rounds.
    "big.js": "big.js",
    # Chinese numerals: the whole-yuan part of an amount in capitals (static/widgets.js).
    "nzh": "nzh/dist",
}


def vendored_dirs() -> dict[str, Path]:
    return {name: NODE_MODULES / folder for name, folder in VENDORED.items()}


def vendor_mounts() -> list[Mount]:
    # check_dir=False: the app still starts without `npm ci` (the API needs no scripts);
    # tests/test_vendor.py fails instead, so a missing install cannot go unnoticed.
    return [
        Mount(f"/vendor/{name}", StaticFiles(directory=path, check_dir=False))
        for name, path in vendored_dirs().items()
    ]
