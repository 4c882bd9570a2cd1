"""The plug-in SDK: what a plug-in author imports.

    from danbao.plugins import Plugin, PluginKind, results, TransientError

See docs/plugins.md for a walkthrough and ``danbao.plugins.contract`` for the contract
tests an author runs against a plug-in.
"""

from . import results
from .errors import (
    CircuitOpen,
    ConsentRequired,
    NotEnabled,
    PermanentError,
    PluginError,
    PluginFailed,
    RateLimited,
    SettingsInvalid,
    TransientError,
    UnknownOperation,
    UnknownPlugin,
)
from .http import vendor_request
from .sdk import OPERATIONS, Label, Operation, Plugin, PluginKind, Recipient

__all__ = [
    "OPERATIONS",
    "CircuitOpen",
    "ConsentRequired",
    "Label",
    "NotEnabled",
    "Operation",
    "PermanentError",
    "Plugin",
    "PluginError",
    "PluginFailed",
    "PluginKind",
    "RateLimited",
    "Recipient",
    "SettingsInvalid",
    "TransientError",
    "UnknownOperation",
    "UnknownPlugin",
    "results",
    "vendor_request",
]
