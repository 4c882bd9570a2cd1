"""Rendering a tenant's document template to HTML, in Jinja2's sandbox.

A template is the tenant's text, so it runs in ``ImmutableSandboxedEnvironment`` (no
attribute of Python internals, no mutation of what it is given) with autoescape on (a
field holding ``<script>`` prints as text), and with no loader, so it cannot read files.
The names it is given are exactly those ``definitions.templates`` checks at publish time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from jinja2 import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from danbao.definitions.templates import ATTRIBUTES

from .filters import FILTERS


def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=True, finalize=_finalize)
    env.filters.update(FILTERS)
    return env


def _finalize(value: Any) -> Any:
    # None prints as a dash, not "None", in a contract.
    return "—" if value is None else value


_ENV = environment()
_COMPILED: LRUCache[str, Template] = LRUCache(maxsize=256)


def compiled(text: str) -> Template:
    """Compiled once per template text (templates are immutable once published)."""
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    template = _COMPILED.get(key)
    if template is None:
        template = _ENV.from_string(text)
        _COMPILED[key] = template
    return template


@dataclass(frozen=True)
class Context:
    """What a template is given (docs/documents.md lists each attribute)."""

    data: dict[str, Any]
    display: dict[str, Any]
    project: dict[str, Any]
    guarantor: dict[str, Any]
    document: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        for name in ATTRIBUTES:
            extra = set(getattr(self, name)) - ATTRIBUTES[name]
            if extra:
                raise ValueError(f"{name} carries undeclared attributes: {sorted(extra)}")
        return {
            "data": self.data,
            "display": self.display,
            "project": self.project,
            "guarantor": self.guarantor,
            "document": self.document,
        }


def render_html(text: str, context: Context) -> str:
    return compiled(text).render(context.as_dict())


def display_values(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Each field as shown: a choice's title instead of its code (rows too); others as is."""
    props = schema.get("properties", {})
    shown: dict[str, Any] = {}
    for name, value in data.items():
        sub = props.get(name, {})
        items = sub.get("items") if isinstance(sub, dict) else None
        if isinstance(value, list) and isinstance(items, dict):
            shown[name] = [
                display_values(items, row) if isinstance(row, dict) else row for row in value
            ]
        else:
            shown[name] = _title(sub, value)
    return shown


def _title(sub: Any, value: Any) -> Any:
    if not isinstance(sub, dict):
        return value
    for choice in sub.get("oneOf", []):
        if isinstance(choice, dict) and choice.get("const") == value and "title" in choice:
            return choice["title"]
    return value


def qr_markup(data_uri: str, alt: str) -> Markup:
    """The QR code as an ``<img>`` the template prints with ``{{ document.qr_svg }}``."""
    return Markup('<img class="qr" src="{}" alt="{}">').format(data_uri, alt)
