"""HTML to PDF with WeasyPrint: A4, Chinese fonts, page numbers, and no fetching.

The HTML is the tenant's template rendered, so it may name any URL in an ``<img>`` or a
stylesheet; WeasyPrint would fetch it from the server (a request forgery). The fetcher
here allows ``data:`` URLs only (the QR code is one); anything else is refused and the
element left out. WeasyPrint is synchronous and CPU-bound: callers run it in a thread.
It is imported on first use: loading it (Pango, fontconfig) takes seconds that a server
start or a CLI command that makes no PDF should not pay.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import weasyprint
    from weasyprint.urls import URLFetcher

# The base sheet: a template's own <style> comes after it, so a tenant may restyle
# anything but starts from A4, CJK fonts and page numbers.
BASE_CSS = """
@page {
  size: A4;
  margin: 25mm 22mm 22mm 22mm;
  @bottom-center {
    content: "第 " counter(page) " 页 / 共 " counter(pages) " 页";
    font-family: "Noto Sans CJK SC", sans-serif;
    font-size: 9pt;
    color: #555;
  }
}
html {
  font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif;
  font-size: 11pt;
  line-height: 1.7;
}
img.qr { width: 30mm; height: 30mm; }
"""


def _data_only() -> URLFetcher:
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


@cache
def _base() -> weasyprint.CSS:
    import weasyprint

    return weasyprint.CSS(string=BASE_CSS, url_fetcher=_data_only())


def html_to_pdf(html: str) -> bytes:
    import weasyprint

    document = weasyprint.HTML(string=html, url_fetcher=_data_only(), base_url=None)
    return bytes(document.write_pdf(stylesheets=[_base()]))


async def html_to_pdf_async(html: str) -> bytes:
    return await asyncio.to_thread(html_to_pdf, html)
