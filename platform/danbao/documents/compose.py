"""Putting one document together: its declaration, the record's values, the template.

Pure (no I/O): given the bundle, a document kind's id and the values, it answers the
HTML. The caller (``issuing``) brings the number, the date and the verification URL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from danbao.definitions.bundle import Bundle
from danbao.forms.invalid import InvalidValue

from .qr import qr_data_uri
from .render import Context, display_values, qr_markup, render_html


class UnknownDocument(LookupError):
    """The tenant's bundle declares no document with that id."""


class RenderFailed(ValueError):
    """The template met a value it cannot print (text where an amount belongs, a date
    that is no date) or broke a sandbox rule; the message says which, for the caller."""


@dataclass(frozen=True)
class Facts:
    """What the document says about itself and its project."""

    number: str
    issued_on: dt.date
    verify_url: str | None
    project: dict[str, Any]
    template_version: int | None = None


def declaration(bundle: Bundle, doc_id: str) -> dict[str, Any]:
    doc = bundle.documents.get(doc_id)
    if doc is None:
        raise UnknownDocument(doc_id)
    return doc


def compose_html(bundle: Bundle, doc_id: str, data: dict[str, Any], facts: Facts) -> str:
    doc = declaration(bundle, doc_id)
    form = bundle.forms[doc["form"]]
    qr = ""
    if facts.verify_url and doc["kind"] == "letter":
        qr = qr_markup(qr_data_uri(facts.verify_url), "核验二维码 / verification QR code")
    tenant = bundle.tenant
    context = Context(
        data=data,
        display=display_values(form["schema"], data),
        project=facts.project,
        guarantor={
            "name": tenant["name"]["zh-CN"],
            "name_en": tenant["name"].get("en", ""),
            "short_name": tenant.get("short_name", tenant["name"]["zh-CN"]),
        },
        document={
            "kind": doc["kind"],
            "title": doc["title"]["zh-CN"],
            "number": facts.number,
            "issued_on": facts.issued_on,
            "verify_url": facts.verify_url or "",
            "qr_svg": qr,
            "template_version": facts.template_version,
        },
    )
    try:
        return render_html(bundle.templates[doc["template"]], context)
    except (TemplateError, InvalidValue, ValueError, TypeError, ArithmeticError) as exc:
        raise RenderFailed(f"templates/{doc['template']}: {exc}") from exc
