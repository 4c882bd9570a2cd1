"""Sending an action's notifications after its transaction committed: a background task of
the response (Starlette runs it after the endpoint's transaction closed), in the tenant's
context, through the messaging plug-in the tenant enabled. Nothing to send, no task."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.background import BackgroundTask
from starlette.requests import Request

from danbao.tenancy.context import current_tenant, tenant_scope
from danbao.web.tenant_endpoint import services_of
from danbao.workflow.deliver import deliver
from danbao.workflow.store import Answer

log = logging.getLogger(__name__)


def deliver_later(request: Request, *answers: Answer) -> BackgroundTask | None:
    return deliver_ids_later(request, _ids(answers))


def deliver_ids_later(request: Request, ids: list[str]) -> BackgroundTask | None:
    """Send these pending notifications once the response went out (None: nothing to send)."""
    if not ids:
        return None
    context, gateway = current_tenant(), services_of(request).plugins

    async def send() -> None:
        with tenant_scope(context):
            try:
                await deliver(gateway, ids)
            except Exception:  # the action stands; the notification list keeps the message
                log.exception("sending notifications failed")

    return BackgroundTask(send)


def _ids(answers: Iterable[Answer]) -> list[str]:
    return [notice for answer in answers for notice in answer.notices]
