"""From the inbox to a decision in a real Chromium at a phone's size, on the demo chain
(广信担保's review): an application over ¥5,000,000 passes risk and legal and reaches the
review committee; a double click approves once; a page that went stale says so. The
legal review claimed from 待认领, its write fields edited and approved (a bad value refused
next to the field), the related member left out of the committee; the submitter urges."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, expect

from .conftest import PASSWORD, PHONE, ClientFactory
from .test_approval_pages import (
    Gx,
    act,
    as_user,
    demo_guarantor,
    start_approval,
    submitted_record,
)


async def signed_in(
    browser: Browser, base_url: str, gx: Gx, name: str
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base_url}/t/{gx.slug}/login")
    await page.fill("input[name=email]", gx.email[name])
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/t/{gx.slug}/")
    return context, page


async def fits_a_phone(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for box in [await b.bounding_box() for b in await page.locator("form[data-act] button").all()]:
        assert box is None or box["height"] >= 44


async def test_inbox_to_approval_over_the_limit_reaches_the_committee(
    base_url: str, browser: Browser, make_client: ClientFactory, tmp_path: Path
) -> None:
    gx = await demo_guarantor()
    record = await submitted_record(make_client, gx, 6_000_000)

    # The account manager starts the approval from the submitted record's page.
    context, page = await signed_in(browser, base_url, gx, "am")
    await page.goto(f"{base_url}/t/{gx.slug}/forms/application/records/{record}")
    await page.click("button[data-start-approval]")
    await page.wait_for_url(re.compile(r".*/approvals/[0-9a-f-]{36}$"))
    instance = page.url.rsplit("/", 1)[1]
    await expect(page.locator("button[value=cancel]")).to_be_visible()  # the submitter's
    await context.close()

    # The risk officer, on a phone: home → inbox → the approval.
    context, page = await signed_in(browser, base_url, gx, "risk")
    await page.click("a[href$='/inbox']")
    await page.wait_for_url(re.compile(r".*/inbox$"))
    await expect(page.locator("[data-tab=mine] .count")).to_have_text("1")
    await fits_a_phone(page)
    await page.click(f"a[href$='/approvals/{instance}']")
    await page.wait_for_url(re.compile(rf".*/approvals/{instance}$"))
    await expect(page.locator("h1")).to_have_text("担保项目评审流程")
    # The node's field permissions: the legal representative's ID number is hidden here.
    await expect(page.locator("#f-amount")).to_be_disabled()
    await expect(page.locator("#f-legal_rep_id_number")).to_have_count(0)
    await fits_a_phone(page)
    await page.screenshot(path=str(tmp_path / "approval-phone.png"), full_page=True)

    # This node requires a comment: the refusal is shown, nothing happens.
    status = page.locator("#act-status")
    await page.click("button[value=approve]")
    await expect(status).to_have_text("请先填写审批意见。")
    await page.get_by_label("审批意见").first.fill("反担保充足，风险可控")
    await page.dblclick("button[value=approve]")  # a double click: one approval
    await expect(page.locator("section.task")).to_have_count(0)
    await expect(page.locator(".timeline")).to_contain_text("节点决定 · 风险管理部审查 · 同意")
    await context.close()
    async with as_user(make_client, gx, "risk") as (client, _):
        history = (await client.get(f"/t/{gx.slug}/api/approvals/{instance}")).json()["history"]
    assert [h["op"] for h in history] == ["start", "approve"]

    # Legal approves; over ¥5,000,000 the route goes to the review committee.
    await act(make_client, gx, "legal", instance)
    context, page = await signed_in(browser, base_url, gx, "c1")
    await page.goto(f"{base_url}/t/{gx.slug}/inbox")
    item = page.locator(f"a[href$='/approvals/{instance}']")
    await expect(item).to_contain_text("评审委员会表决")
    await item.click()
    await page.wait_for_url(re.compile(rf".*/approvals/{instance}$"))
    await expect(page.locator("button[value=abstain]")).to_be_visible()  # a vote
    routed = page.locator(".fact-routed", has_text="评审委员会表决")
    await expect(routed).to_contain_text("amount > 5000000")
    await expect(routed).to_contain_text("amount = 6000000")
    await fits_a_phone(page)

    # Meanwhile the same member approves elsewhere: this page is stale now.
    await act(make_client, gx, "c1", instance)
    await page.click("button[value=approve]")
    await expect(page.locator("#act-status")).to_contain_text("已被处理")
    await expect(page.locator("#act-status")).to_contain_text("审批中")
    await page.screenshot(path=str(tmp_path / "approval-stale.png"), full_page=True)
    await context.close()


async def test_claim_edit_a_write_field_and_approve_and_urge_on_a_phone(
    base_url: str, browser: Browser, make_client: ClientFactory, tmp_path: Path
) -> None:
    gx = await demo_guarantor()
    instance = await start_approval(make_client, gx, 1_000_000)  # under the committee's limit
    path = f"{base_url}/t/{gx.slug}/approvals/{instance}"
    await act(make_client, gx, "risk", instance, comment="风险可控")

    # The submitter urges (催办) from the approval page; again within the hour: refused.
    context, page = await signed_in(browser, base_url, gx, "am")
    await page.goto(path)
    await page.click("button[value=urge]")
    await expect(page.locator(".timeline .fact-urge")).to_have_count(1)
    await fits_a_phone(page)
    await page.click("button[value=urge]")
    await expect(page.locator("#act-status")).to_contain_text("一小时内已催办过")
    await context.close()

    # A legal counsel: home → inbox → 待认领 → the approval → 认领.
    context, page = await signed_in(browser, base_url, gx, "legal")
    await page.click("a[href$='/inbox']")
    await page.click("[data-tab=claimable]")
    await expect(page.locator("[data-tab=claimable] .count")).to_have_text("1")
    await expect(page.locator("[data-tab=mine] .count")).to_have_text("0")
    await fits_a_phone(page)
    await page.click(f"a[href$='/approvals/{instance}']")
    await page.wait_for_url(re.compile(rf".*/approvals/{instance}$"))
    await expect(page.locator("form[data-record-edit]")).to_have_count(0)  # not before claiming
    await page.click("button[value=claim]")
    await expect(page.locator("button[value=unclaim]")).to_be_visible()

    # The node's write fields are the form's own widgets; the rest stays read-only.
    await expect(page.locator("#f-related_party")).to_be_enabled()
    await expect(page.locator("#f-amount")).to_be_disabled()
    await fits_a_phone(page)
    await page.locator("#f-related_party").check(force=True)
    await page.click("button[value=approve]")  # a related party needs its note: refused
    note = page.locator(".approval-edit [data-key=related_party_note] .field-message")
    await expect(note).to_contain_text("关联关系说明")
    await expect(page.locator("#act-status")).to_contain_text("未通过校验")
    await expect(page.locator("section.task")).to_have_count(1)
    await page.fill("#f-related_party_note", "董事长兼任其监事")
    related = page.locator(f"input[name=related_people][value='{gx.id['c2']}']")
    await related.check(force=True)
    await page.screenshot(path=str(tmp_path / "approval-edit-phone.png"), full_page=True)
    await page.click("button[value=approve]")
    await expect(page.locator("section.task")).to_have_count(0)
    await expect(page.locator("#f-related_party")).to_be_disabled()  # read-only once decided
    await expect(page.locator("#f-related_party")).to_be_checked()
    await context.close()

    # Now a related party: the committee votes, without the member named.
    async with as_user(make_client, gx, "legal") as (client, _):
        shown = (await client.get(f"/t/{gx.slug}/api/approvals/{instance}")).json()
    tasks = shown["instance"]["tasks"]
    assert {t["node"] for t in tasks} == {"committee"}
    assert gx.id["c2"] not in {t["user"] for t in tasks} and len(tasks) == 4
    assert [h["op"] for h in shown["history"]][-1] == "approve"
