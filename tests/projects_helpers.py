"""Shared by the project tests: submitted application records, and projects made of them."""

from __future__ import annotations

import uuid
from typing import Any

from danbao.db.models import User

from .conftest import ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, records_url

PROJECTS = "/t/{slug}/api/projects"


def projects_url(slug: str, *parts: str) -> str:
    return "/".join([PROJECTS.format(slug=slug), *parts])


async def submitted_record(
    make_client: ClientFactory, tenant: TenantFixture, email: str, **data: Any
) -> str:
    """The id of a submitted application record of ``tenant``, created by ``email``."""
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, email)
        headers = {"X-CSRF-Token": csrf}
        created = await client.post(
            records_url(tenant.slug), json={"data": {**VALID, **data}}, headers=headers
        )
        assert created.status_code == 201, created.text
        rid = str(created.json()["id"])
        submitted = await client.post(records_url(tenant.slug, rid, "submit"), headers=headers)
        assert submitted.status_code == 200, submitted.text
    return rid


async def user_by_email(email: str) -> User:
    user = await User.filter(email=email).first()
    assert user is not None
    return user


def uid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
