"""Identifiers: UUIDv7, so keys sort by creation and index well."""

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    return uuid7()
