"""Finding plug-ins: the entry-point group ``danbao.plugins``, ours included.

Danbao's own sandbox plug-ins are published through the same entry points as anyone
else's (see pyproject.toml), so the path an outside author's package takes is the one
every test and demo exercises.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from .errors import UnknownPlugin
from .sdk import OPERATIONS, Plugin, Recipient

GROUP = "danbao.plugins"
log = logging.getLogger(__name__)


class BrokenPlugin(TypeError):
    pass


def check_class(cls: object) -> type[Plugin]:
    """A loaded entry point that is not a usable plug-in class is refused, with why."""
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise BrokenPlugin(f"{cls!r} is not a danbao.plugins.Plugin subclass")
    for attr in ("id", "kind", "title"):
        if not hasattr(cls, attr):
            raise BrokenPlugin(f"{cls.__name__} lacks the class attribute {attr!r}")
    missing = [
        name
        for name, op in OPERATIONS[cls.kind].items()
        if op.required and not callable(getattr(cls, name, None))
    ]
    if missing:
        raise BrokenPlugin(f"{cls.__name__} ({cls.kind}) lacks operations: {missing}")
    if not isinstance(cls.recipient, Recipient):
        raise BrokenPlugin(f"{cls.__name__}.recipient must be a danbao.plugins.Recipient")
    return cls


@cache
def installed() -> dict[str, type[Plugin]]:
    """Every installed plug-in by id. A broken one is logged and left out, never fatal."""
    found: dict[str, type[Plugin]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = check_class(ep.load())
        except Exception:  # a third-party package must not take the platform down
            log.exception("plug-in entry point %s could not be loaded", ep.name)
            continue
        if cls.id != ep.name:
            log.error("plug-in entry point %s names class id %s; skipped", ep.name, cls.id)
            continue
        found[cls.id] = cls
    return dict(sorted(found.items()))


def get(plugin_id: str) -> type[Plugin]:
    try:
        return installed()[plugin_id]
    except KeyError:
        raise UnknownPlugin(f"no plug-in {plugin_id!r} is installed") from None
