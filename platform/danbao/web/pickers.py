"""Options of the user and department pickers, loaded for one page of one form.

Departments come with the form (its version's ``permissions.json``); users are read here,
through the scoped manager, and only when the form has a user picker — so a foreign
tenant's user never appears as an option, exactly as the server never accepts one.
"""

from __future__ import annotations

from danbao.db.models import User
from danbao.portal.identity import OWNER_SUFFIX
from danbao.records.definition import FormDefinition
from danbao.records.references import user_fields
from danbao.web.widgets import Choices, UserChoice

MAX_USERS = 2000
"""A picker is a list on a page; a tenant with more staff than this needs a search API."""


async def choices_for(form: FormDefinition) -> Choices:
    if not user_fields(form):
        return Choices(form.lookups)
    rows = (
        await User.exclude(email__endswith=OWNER_SUFFIX)  # applicants' owner identities
        .order_by("name", "id")
        .limit(MAX_USERS)
        .values_list("id", "name", "department", "is_active")
    )
    users = tuple(
        UserChoice(str(user_id), str(name), department, bool(active))
        for user_id, name, department, active in rows
    )
    return Choices(form.lookups, users)
