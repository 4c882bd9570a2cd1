"""One HTTP exchange with a vendor, failures sorted the way the call path needs them.

A refused connection never reached the vendor (``delivered=False``: safe to retry even a
send); a timeout or broken connection may have; a 5xx or 429 is the vendor's trouble and
worth another try. Anything else is the vendor's answer, for the adapter to read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from .errors import TransientError
from .sdk import Plugin


class HttpPlugin(Plugin):
    """A plug-in that talks to one vendor host: its HTTP client opens with the settings
    (``base_url``, else the host of ``environment``, else the first of ``hosts``) and
    closes when the call path is done with the plug-in."""

    hosts: ClassVar[Mapping[str, str]] = {}

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        environment = self.settings.get("environment") or next(iter(self.hosts), "")
        base = self.settings.get("base_url") or self.hosts.get(environment, "")
        self._http = httpx.AsyncClient(base_url=base, timeout=self.timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()


async def vendor_request(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    try:
        answer = await client.request(method, url, **kwargs)
    except httpx.ConnectError as exc:
        raise TransientError(f"cannot connect: {exc}", delivered=False) from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    if answer.status_code >= 500 or answer.status_code == 429:
        raise TransientError(f"the vendor answered HTTP {answer.status_code}")
    return answer
