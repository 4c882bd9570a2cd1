"""Jinja2 for the console pages, with the caller's language bound as ``t()``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from danbao.config import REPO_ROOT
from danbao.documents.filters import yuan
from danbao.i18n import translate
from danbao.web.errors import locale_of
from danbao.workdays import CHINA

templates = Jinja2Templates(directory=str(REPO_ROOT / "console" / "templates"))
templates.env.filters["yuan"] = yuan  # amounts as staff read them: 1,000,000.00


def china_time(value: dt.datetime | str | None) -> str:
    """A stored (UTC) moment as staff read it: China time, to the minute."""
    if value is None or value == "":
        return ""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


templates.env.filters["china_time"] = china_time


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    locale = locale_of(request)
    ctx = {
        "locale": locale,
        "other_locale": "en" if locale == "zh-CN" else "zh-CN",
        "t": lambda key, **params: translate(locale, key, **params),
        "label": lambda value: _label(value, locale),
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def _label(value: Any, locale: str) -> str:
    """A definition's ``{"zh-CN": …, "en": …}`` label in the caller's language."""
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh-CN") or next(iter(value.values()), ""))
    return str(value)
