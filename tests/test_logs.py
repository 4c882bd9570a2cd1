"""Logs are JSON with request id and tenant, and never carry secrets, even at DEBUG."""

from __future__ import annotations

import io
import json
import logging

from danbao.logs import json_handler

from .conftest import PASSWORD, ClientFactory, TenantFixture, sign_in


async def test_logs_are_structured_and_keep_secrets_out(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        async with make_client() as client:
            csrf = await sign_in(client, "alpha", tenants["alpha"].admin_email)
            cookie = client.cookies.get("danbao_session")
            created = await client.post(
                "/t/alpha/api/tokens", json={"name": "log test"}, headers={"X-CSRF-Token": csrf}
            )
            secret = created.json()["secret"]
            await client.get("/t/alpha/api/me", headers={"X-Request-ID": "trace-42"})
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines, "nothing was logged"
    for leaked in (PASSWORD, secret, cookie, csrf):
        assert leaked not in output
    access = [
        line
        for line in lines
        if line["logger"] == "danbao.access" and line["path"] == "/t/alpha/api/me"
    ]
    assert access and access[-1]["request_id"] == "trace-42"
    assert access[-1]["tenant"] == "alpha" and access[-1]["status"] == 200
