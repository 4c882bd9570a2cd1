"""Document numbers under concurrency: every submission its own transaction, no gaps,
no repeats."""

from __future__ import annotations

import asyncio
import re

from .conftest import ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user, records_url

SUBMISSIONS = 20


async def test_concurrent_submissions_get_consecutive_numbers(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    gamma = tenants["gamma"]
    email, _ = await new_user(gamma, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, "gamma", email)
        headers = {"X-CSRF-Token": csrf}
        ids = []
        for _ in range(SUBMISSIONS):
            made = await client.post(records_url("gamma"), json={"data": VALID}, headers=headers)
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        # Each request runs in its own transaction on its own pooled connection.
        answers = await asyncio.gather(
            *(client.post(records_url("gamma", i, "submit"), headers=headers) for i in ids)
        )
        twice = await client.post(records_url("gamma", ids[0], "submit"), headers=headers)
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    numbers = [a.json()["number"] for a in answers]
    seqs = sorted(int(re.fullmatch(r"DB-\d{4}-(\d{5})", n).group(1)) for n in numbers)  # type: ignore[union-attr]
    assert len(set(numbers)) == SUBMISSIONS
    assert seqs == list(range(seqs[0], seqs[0] + SUBMISSIONS))
    assert twice.status_code == 409
