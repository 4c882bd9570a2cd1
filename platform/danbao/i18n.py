"""Messages in zh-CN (first) and English, from the catalogues in ``console/i18n``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from danbao.config import REPO_ROOT

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_CATALOGUE_DIR = REPO_ROOT / "console" / "i18n"


@cache
def _catalogue(locale: str) -> dict[str, str]:
    path: Path = _CATALOGUE_DIR / f"{locale}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def translate(locale: str, key: str, **params: object) -> str:
    text = _catalogue(locale).get(key) or _catalogue(DEFAULT_LOCALE).get(key) or key
    return text.format(**params) if params else text


def negotiate(query_lang: str | None, cookie_lang: str | None, accept: str | None) -> str:
    """Explicit choice first (query, then cookie), then the browser's, else Chinese."""
    for candidate in (query_lang, cookie_lang):
        if candidate in LOCALES:
            return candidate
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE
