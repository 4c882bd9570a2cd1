"""Which projects a caller sees: those whose application record lies in the caller's data
scope on that record's form, if the caller may ``read`` ``project:*``.

A project is the continuation of its application, so it takes the application's scope
(own, department, conditions …) instead of a second one to keep in step; a list and a
get use the same filter, so they cannot disagree.
"""

from __future__ import annotations

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from danbao.authz.enforcer import TenantEnforcer
from danbao.db.models import Project, User
from danbao.records.access import scope_of, scoped

READ = ("project:*", "read")


async def visible_projects(enforcer: TenantEnforcer, user: User) -> QuerySet[Project] | None:
    """The caller's projects as a query (the manager adds the tenant), or None: none."""
    if not enforcer.allowed(user.roles, *READ):
        return None
    form_ids = await Project.all().distinct().values_list("form_id", flat=True)
    parts: list[Q] = []
    for form_id in sorted(set(form_ids)):
        scope = scope_of(enforcer, user, str(form_id))
        if scope is None:
            continue
        records = scoped(str(form_id), scope).values("id")
        parts.append(Q(form_id=form_id, record_id__in=Subquery(records)))
    if not parts:
        return None
    return Project.filter(Q(*parts, join_type=Q.OR))
