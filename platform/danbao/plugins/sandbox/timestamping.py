"""A sandbox timestamp authority: an HMAC token over the digest and the time.

Not RFC 3161 (a real TSA plug-in is): it lets demos show "stamped at" and lets tests
check that a changed digest no longer matches its token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from danbao.plugins import results as r
from danbao.plugins.errors import PermanentError
from danbao.plugins.sdk import Label, Plugin, PluginKind

from . import now_iso

_KEY = b"danbao-sandbox-tsa"  # public on purpose: a sandbox token proves nothing
AUTHORITY = "Danbao sandbox TSA"


def _token(sha256: str, time: str) -> str:
    return base64.b64encode(
        hmac.new(_KEY, f"{sha256}|{time}".encode(), hashlib.sha256).digest()
    ).decode()


def verify(stamp: r.Timestamp) -> bool:
    return hmac.compare_digest(stamp.token, _token(stamp.sha256, stamp.time))


class SandboxTimestamping(Plugin):
    id = "sandbox.timestamping"
    kind = PluginKind.TIMESTAMPING
    title = Label("可信时间戳（沙箱）", "Timestamping (sandbox)")
    sandbox = True

    async def stamp(self, request: r.StampRequest) -> r.Timestamp:
        digest = request.sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise PermanentError("sha256 must be 64 hexadecimal digits")
        time = now_iso()
        return r.Timestamp(digest, time, AUTHORITY, _token(digest, time))
