"""The contract kit run over every bundled plug-in (as an author runs it over theirs)."""

from __future__ import annotations

import hashlib

from danbao.plugins import results
from danbao.plugins.contract import PluginContract
from danbao.plugins.sandbox.credit import SandboxCreditBureau
from danbao.plugins.sandbox.judicial import SandboxCourtRecords
from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.plugins.sandbox.registry import SandboxRegistry
from danbao.plugins.sandbox.timestamping import SandboxTimestamping, verify

USCC = "91510100MA61R8KX2L"


class TestSandboxCredit(PluginContract):
    plugin = SandboxCreditBureau
    samples = {  # noqa: RUF012
        "credit_report": [
            results.CreditQuery("person", "张三", id_no="11010519491231002X"),
            results.CreditQuery("enterprise", "成都逾期机械有限公司", uscc=USCC),
        ]
    }
    failing = {"credit_report": [results.CreditQuery("person", "无证件")]}  # noqa: RUF012


class TestSandboxRegistry(PluginContract):
    plugin = SandboxRegistry
    samples = {"company_profile": [results.CompanyQuery(USCC)]}  # noqa: RUF012
    failing = {"company_profile": [results.CompanyQuery("not-a-code")]}  # noqa: RUF012


class TestSandboxCourtRecords(PluginContract):
    plugin = SandboxCourtRecords
    samples = {"court_records": [results.CourtQuery("某失信企业", uscc=USCC)]}  # noqa: RUF012


class TestSandboxMessaging(PluginContract):
    plugin = SandboxMessaging
    settings = {"sender": "担保云"}  # noqa: RUF012
    samples = {"send": [results.Message(("u1",), "待办提醒", "您有一条待审批任务")]}  # noqa: RUF012


class TestSandboxTimestamping(PluginContract):
    plugin = SandboxTimestamping
    samples = {"stamp": [results.StampRequest(hashlib.sha256(b"x").hexdigest())]}  # noqa: RUF012
    failing = {"stamp": [results.StampRequest("not-hex")]}  # noqa: RUF012


# --- the documented scenarios (docs/plugins.md) -------------------------------------------


async def test_scenarios_follow_the_subjects_name() -> None:
    credit = SandboxCreditBureau({})
    clean = await credit.credit_report(
        results.CreditQuery("person", "张三", id_no="11010519491231002X")
    )
    late = await credit.credit_report(
        results.CreditQuery("person", "逾期张三", id_no="11010519491231002X")
    )
    assert clean.summary.overdue_accounts == 0 and not clean.public_records
    assert late.summary.overdue_accounts == 1 and late.accounts[0].five_level_class == "次级"
    # Same subject, same figures: deterministic.
    again = await credit.credit_report(
        results.CreditQuery("person", "张三", id_no="11010519491231002X")
    )
    assert again.accounts == clean.accounts and again.report_no == clean.report_no

    courts = SandboxCourtRecords({})
    assert (await courts.court_records(results.CourtQuery("成都正常商贸有限公司"))).clean
    dishonest = await courts.court_records(results.CourtQuery("成都失信商贸有限公司"))
    assert dishonest.dishonest and dishonest.consumption_restricted and not dishonest.clean

    registry = SandboxRegistry({})
    assert (
        await registry.company_profile(results.CompanyQuery(USCC, "某注销公司"))
    ).status == "注销"


async def test_a_sandbox_timestamp_stops_matching_a_changed_digest() -> None:
    stamp = await SandboxTimestamping({}).stamp(
        results.StampRequest(hashlib.sha256(b"contract").hexdigest())
    )
    assert verify(stamp)
    forged = results.Timestamp(
        hashlib.sha256(b"contract!").hexdigest(), stamp.time, stamp.authority, stamp.token
    )
    assert not verify(forged)
