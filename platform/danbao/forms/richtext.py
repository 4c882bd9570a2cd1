"""Rich text (``x-kind: richtext``): the little HTML staff may write, and nothing else.

Sanitised with nh3 (the Ammonia sanitiser) when a record is saved, and again when it is
shown, so a value stored before a rule tightened, or written around the API, still
cannot run script in a colleague's browser.
"""

from __future__ import annotations

import html as _html

import nh3

TAGS = frozenset(
    {"p", "br", "strong", "b", "em", "i", "u", "s", "ul", "ol", "li", "h3", "h4", "blockquote", "a"}
)
ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def sanitise(html: str) -> str:
    """Only ``TAGS`` survive; links get ``rel="noopener noreferrer"`` and safe schemes only."""
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def is_blank(html: str) -> bool:
    """True for what an empty editor leaves behind (``<p><br></p>``, ``&nbsp;``)."""
    return not _html.unescape(nh3.clean(html, tags=set())).strip()


def plain_text(html: str) -> str:
    """The words alone, for a spreadsheet cell or a list."""
    return " ".join(_html.unescape(nh3.clean(html, tags=set())).split())
