"""Shared by the portal tests: signing an applicant in over HTTP with the code the sandbox
messaging channel was asked to send, and posting the starter application as a page would."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.web.portal_endpoint import PORTAL_COOKIE, PORTAL_LOGIN_CSRF

from .documents_helpers import starter_with_documents
from .records_helpers import VALID

LICENCE = "business_licence"

_CHALLENGE = re.compile(r'name="challenge" value="([0-9a-f-]{36})"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def portal(slug: str, *parts: str) -> str:
    return "/".join([f"/t/{slug}/portal", *parts])


def last_code(destination: str) -> str:
    """The newest code the sandbox channel was asked to send to ``destination``."""
    for _, message in reversed(SandboxMessaging.outbox):
        if destination in message.recipients:
            found = re.search(r"\b(\d{6})\b", message.text)
            assert found, message.text
            return found.group(1)
    raise AssertionError(f"no code was sent to {destination}")


async def request_code(client: httpx.AsyncClient, slug: str, destination: str) -> httpx.Response:
    await client.get(portal(slug, "login"))
    return await client.post(
        portal(slug, "login"),
        data={"csrf_token": client.cookies.get(PORTAL_LOGIN_CSRF), "destination": destination},
    )


def challenge_of(page: httpx.Response) -> str:
    found = _CHALLENGE.search(page.text)
    assert found, page.text
    return found.group(1)


async def enter_code(
    client: httpx.AsyncClient, slug: str, challenge: str, code: str
) -> httpx.Response:
    return await client.post(
        portal(slug, "login", "verify"),
        data={
            "csrf_token": client.cookies.get(PORTAL_LOGIN_CSRF),
            "challenge": challenge,
            "code": code,
        },
    )


async def portal_sign_in(client: httpx.AsyncClient, slug: str, destination: str) -> str:
    """Sign in to the portal; returns the session's CSRF token (from the home page)."""
    sent = await request_code(client, slug, destination)
    assert sent.status_code == 200, sent.text
    done = await enter_code(client, slug, challenge_of(sent), last_code(destination))
    assert done.status_code == 303, done.text
    assert client.cookies.get(PORTAL_COOKIE)
    return csrf_of(await client.get(portal(slug, "")))


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def application_form(csrf: str, **extra: Any) -> dict[str, Any]:
    """The starter application (records_helpers.VALID) as the page's form posts it."""
    return {"csrf_token": csrf, **{k: str(v) for k, v in VALID.items()}, **extra}


def portal_bundle(target: Path) -> Path:
    """The starter template (whose portal hides the account manager picker from
    applicants) with its contract and letter and a licence upload field."""
    starter_with_documents(target)
    form_path = target / "forms" / "application.json"
    form = json.loads(form_path.read_text(encoding="utf-8"))
    form["schema"]["properties"][LICENCE] = {
        "type": "array",
        "title": "营业执照扫描件",
        "x-attachment": {"accept": ["pdf", "jpg", "png"], "max_size_mb": 1, "max_count": 1},
    }
    form["ui"]["layout"].append(
        {"id": "files", "title": {"zh-CN": "附件", "en": "Files"}, "fields": [LICENCE]}
    )
    form_path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    return target


async def contracted(pg_owner: asyncpg.Connection, project_id: str) -> None:
    """Skip the review, its approval chain and the contract (tested on their own) by moving
    the project straight to 已签约, where issuing the letter is allowed."""
    await pg_owner.execute(
        "UPDATE project SET state = 'CONTRACTED', version = version + 1 WHERE id = $1",
        uuid.UUID(project_id),
    )
