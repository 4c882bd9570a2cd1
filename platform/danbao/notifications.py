"""Leaving notifications: one row per person on the internal notification list, in the
caller's transaction; when the tenant enabled a messaging plug-in the rows are ``pending``
and their ids are handed back, for ``workflow.deliver`` to send after the commit (an
approval's tasks, a ticket's changes, a project's early warning). Titles are zh-CN (what
a channel shows); ``params`` let pages say it in any locale.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from danbao.db.models import Notification
from danbao.ids import new_id
from danbao.plugins.checks import plugin_for
from danbao.plugins.sdk import PluginKind
from danbao.tenancy.context import current_tenant


@dataclass(frozen=True)
class Note:
    user: uuid.UUID
    kind: str
    title: str
    body: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    instance_id: uuid.UUID | None = None
    """The approval it is about, when it is about one."""


async def leave(notes: Sequence[Note]) -> list[str]:
    """Store the notes; the ids a messaging plug-in should send once the caller commits."""
    if not notes:
        return []
    channel = await plugin_for(PluginKind.MESSAGING) is not None
    rows = [
        Notification(
            id=new_id(),
            tenant_id=current_tenant().tenant_id,
            user_id=note.user,
            kind=note.kind,
            title=note.title[:200],
            body=note.body,
            params=note.params,
            instance_id=note.instance_id,
            delivery="pending" if channel else "none",
        )
        for note in notes
    ]
    await Notification.bulk_create(rows)
    return [str(row.id) for row in rows] if channel else []
