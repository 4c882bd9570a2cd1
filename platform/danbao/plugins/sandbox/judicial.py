"""Sandbox court and enforcement records (中国执行信息公开网 shape via aggregators)."""

from __future__ import annotations

from danbao.plugins import results as r
from danbao.plugins.sdk import Label, Plugin, PluginKind

from . import has, seed


class SandboxCourtRecords(Plugin):
    id = "sandbox.judicial"
    kind = PluginKind.JUDICIAL
    title = Label("司法涉诉（沙箱）", "Court records (sandbox)")
    sandbox = True

    async def court_records(self, query: r.CourtQuery) -> r.CourtRecords:
        n = seed(query.name, query.id_no, query.uscc)
        dishonest = has(query.name, "失信")
        executed = dishonest or has(query.name, "被执行")
        return r.CourtRecords(
            dishonest=(
                (
                    r.DishonestCase(
                        f"(2025)川01执{n % 9000 + 1000}号",
                        "成都市中级人民法院",
                        "2025-03-18",
                        "偿还借款本金及利息",
                        "全部未履行",
                    ),
                )
                if dishonest
                else ()
            ),
            executed=(
                (
                    r.ExecutedCase(
                        f"(2025)川01执{n % 9000 + 1000}号",
                        "成都市中级人民法院",
                        "2025-03-18",
                        "1200000.00",
                    ),
                )
                if executed
                else ()
            ),
            consumption_restricted=(query.name,) if dishonest else (),
            litigation_count=(n % 3) + (2 if executed else 0),
        )
