"""User-picker fields (``"x-picker": "user"``): the value must be a user of the tenant.

Checked against the database through the scoped manager, so another tenant's user id is
simply not found — the same answer as an id that never existed. Departments and
dictionary codes need no query; ``validation`` checks them against the pinned version.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from danbao.db.models import User
from danbao.records.definition import FormDefinition
from danbao.records.messages import field_message
from danbao.records.validation import FieldError, pointer_of


def user_fields(form: FormDefinition) -> list[str]:
    return [k for k, p in form.properties.items() if p.get("x-picker") == "user"]


def _values(data: dict[str, Any], key: str) -> Iterator[tuple[list[str | int], str]]:
    value = data.get(key)
    if isinstance(value, str):
        yield [key], value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield [key, index], item


async def check_users(
    form: FormDefinition, data: dict[str, Any], *, locale: str, skip: set[str] | frozenset[str]
) -> list[FieldError]:
    """A refusal for each user id in ``data`` that is not a user of the tenant in context.

    ``skip``: pointers already refused (by type or format); one message per field is enough.
    """
    wanted: list[tuple[list[str | int], str]] = [
        found for key in user_fields(form) for found in _values(data, key)
    ]
    if not wanted:
        return []
    ids = set()
    for _, text in wanted:
        try:
            ids.add(uuid.UUID(text))
        except ValueError:
            continue
    known = {str(i) for i in await User.filter(id__in=ids).values_list("id", flat=True)}
    return [
        FieldError(
            pointer_of(path), field_message("user", locale, form.label(str(path[0]), locale))
        )
        for path, text in wanted
        if pointer_of(path) not in skip and text not in known
    ]
