"""A sandbox business registry (the shape 天眼查/企查查-style aggregators return)."""

from __future__ import annotations

from stdnum.cn import uscc as uscc_number

from danbao.plugins import results as r
from danbao.plugins.errors import PermanentError
from danbao.plugins.sdk import Label, Plugin, PluginKind

from . import has, seed


class SandboxRegistry(Plugin):
    id = "sandbox.registry"
    kind = PluginKind.BUSINESS_REGISTRY
    title = Label("工商信息（沙箱）", "Business registry (sandbox)")
    sandbox = True

    async def company_profile(self, query: r.CompanyQuery) -> r.CompanyProfile:
        if not uscc_number.is_valid(query.uscc):
            raise PermanentError("not a valid unified social credit code")
        n = seed(query.uscc)
        name = query.name or f"沙箱企业{n % 10_000:04d}有限公司"
        capital = (n % 90 + 10) * 100_000
        first = 40 + n % 40
        return r.CompanyProfile(
            uscc=uscc_number.compact(query.uscc),
            name=name,
            legal_rep=("张伟", "王芳", "李娜", "刘洋")[n % 4],
            reg_capital=f"{capital}.00",
            established=f"{2005 + n % 18}-0{1 + n % 9}-1{n % 10}",
            status="注销" if has(name, "注销") else "存续",
            address="四川省成都市高新区天府大道北段1700号",
            scope="机械设备制造、销售；技术开发与咨询",
            industry="C",
            shareholders=(
                r.Shareholder("张伟", f"{first}.00", f"{capital * first // 100}.00"),
                r.Shareholder(
                    "成都沙箱投资有限公司",
                    f"{100 - first}.00",
                    f"{capital - capital * first // 100}.00",
                ),
            ),
            executives=("张伟（执行董事）", "王芳（监事）"),
            abnormal_operations=("未按时公示年度报告",) if has(name, "异常") else (),
        )
