"""Service tickets in the customer portal: an applicant asks on their own project, staff
answer (their internal notes never reach the applicant), the applicant answers back and
closes it; another applicant's guesses are 404 and change nothing."""

from __future__ import annotations

import uuid

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import ServiceTicket
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, sign_in
from .portal_helpers import application_form, portal, portal_sign_in
from .test_portal import PortalTenant, mobile, pt  # noqa: F401 - the module's tenant

TICKET = {"subject": "放款需要多久？", "category": "consult", "body": "我的项目何时放款？"}


async def applied(client: httpx.AsyncClient, slug: str) -> tuple[str, str]:
    """(csrf, project id): an applicant signed in who submitted the starter application."""
    csrf = await portal_sign_in(client, slug, mobile())
    submitted = await client.post(
        portal(slug, "apply"), data=application_form(csrf, action="submit")
    )
    assert submitted.status_code == 303, submitted.text
    return csrf, submitted.headers["location"].split("/")[-1].split("?")[0]


async def test_an_applicant_asks_staff_answer_and_the_applicant_closes(
    make_client: ClientFactory,
    pt: PortalTenant,  # noqa: F811
) -> None:
    slug = pt.slug
    async with make_client() as applicant:
        csrf, project = await applied(applicant, slug)
        opened = await applicant.post(
            portal(slug, "projects", project, "tickets"), data={"csrf_token": csrf, **TICKET}
        )
        assert opened.status_code == 303, opened.text
        ticket_url = opened.headers["location"].split("?")[0]
        tid = ticket_url.rsplit("/", 1)[1]
        page = await applicant.get(ticket_url)
        assert page.status_code == 200 and "我的项目何时放款？" in page.text
        bad = await applicant.post(
            portal(slug, "projects", project, "tickets"),
            data={"csrf_token": csrf, **TICKET, "category": "weather"},
        )
        assert bad.status_code == 422

        async with make_client() as staff:
            headers = {"X-CSRF-Token": await sign_in(staff, slug, pt.staff)}
            api = f"/t/{slug}/api/tickets/{tid}"
            shown = (await staff.get(api, headers=headers)).json()
            assert shown["opened_by"]["kind"] == "applicant" and shown["assignee_id"] is None
            unassigned = (await staff.get(f"/t/{slug}/tickets?tab=unassigned")).text
            assert "放款需要多久？" in unassigned
            for body in (
                {"body": "内部：请风控复核", "internal": True},
                {"body": "预计三个工作日"},
            ):
                answered = await staff.post(f"{api}/replies", json=body, headers=headers)
                assert answered.status_code == 200, answered.text

        page = await applicant.get(ticket_url)
        assert "预计三个工作日" in page.text and "内部：请风控复核" not in page.text
        assert "处理中" in page.text
        replied = await applicant.post(
            f"{ticket_url}/reply", data={"csrf_token": csrf, "body": "好的，谢谢"}
        )
        assert replied.status_code == 303
        internal = await applicant.post(
            f"{ticket_url}/reply", data={"csrf_token": csrf, "body": "x", "internal": "on"}
        )
        assert internal.status_code == 303  # the box is ignored: applicants write no notes
        version = await _version(pt, tid)
        closed = await applicant.post(
            f"{ticket_url}/act", data={"csrf_token": csrf, "action": "close", "version": version}
        )
        assert closed.status_code == 303
        resolve = await applicant.post(
            f"{ticket_url}/act",
            data={"csrf_token": csrf, "action": "resolve", "version": version + 1},
        )
        assert resolve.status_code == 404  # staff's action, not the applicant's
        project_page = await applicant.get(portal(slug, "projects", project))
        assert "放款需要多久？" in project_page.text and "已关闭" in project_page.text

    async with make_client() as staff:
        headers = {"X-CSRF-Token": await sign_in(staff, slug, pt.staff)}
        final = (await staff.get(f"/t/{slug}/api/tickets/{tid}", headers=headers)).json()
    assert final["status"]["code"] == "closed"
    assert [(r["author"]["kind"], r["internal"]) for r in final["replies"]] == [
        ("applicant", False),
        ("staff", True),
        ("staff", False),
        ("applicant", False),
        ("applicant", False),
    ]


async def _version(pt: PortalTenant, tid: str) -> int:  # noqa: F811
    with tenant_scope(pt.tenant.context):
        async with in_transaction():
            row = await ServiceTicket.get_in_tenant(tid)
            assert row is not None
            return row.version


async def test_another_applicant_gets_404_everywhere_and_nothing_changes(
    make_client: ClientFactory,
    pt: PortalTenant,  # noqa: F811
) -> None:
    slug = pt.slug
    async with make_client() as first:
        csrf, project = await applied(first, slug)
        opened = await first.post(
            portal(slug, "projects", project, "tickets"), data={"csrf_token": csrf, **TICKET}
        )
        ticket_url = opened.headers["location"].split("?")[0]
        tid = ticket_url.rsplit("/", 1)[1]
    async with make_client() as stranger:
        csrf2, _ = await applied(stranger, slug)
        for method, path, data in (
            ("GET", ticket_url, None),
            ("POST", f"{ticket_url}/reply", {"body": "我也想问"}),
            ("POST", f"{ticket_url}/act", {"action": "close", "version": "1"}),
            ("POST", portal(slug, "projects", project, "tickets"), TICKET),
            ("GET", portal(slug, "tickets", str(uuid.uuid4())), None),
        ):
            answer = await stranger.request(
                method, path, data=None if data is None else {"csrf_token": csrf2, **data}
            )
            assert answer.status_code == 404, (path, answer.status_code)
            assert "我的项目何时放款？" not in answer.text
    assert await _version(pt, tid) == 1
