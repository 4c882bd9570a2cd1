"""The QR code on a guarantee letter: the verification URL as an SVG data URI (segno)."""

from __future__ import annotations

import segno


def qr_data_uri(url: str) -> str:
    # Error correction M (15 %) survives a stamp or a fold over part of the code.
    return str(segno.make(url, error="m").svg_data_uri(scale=4, border=2))
