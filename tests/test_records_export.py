"""Exporting a form's records to CSV and XLSX: the caller's scope and field rules, Chinese
headers, formula injection neutralised, refusals, and the audit event."""

from __future__ import annotations

import csv
import datetime
import io
import json
import shutil
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent
from danbao.provisioning import create_tenant
from danbao.tenancy.context import tenant_scope
from danbao.web.records_export import content_disposition

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, VALID_ID, new_user, records_url

HEADERS = [
    "编号",
    "状态",
    "创建时间",
    "申请人名称",
    "统一社会信用代码",
    "企业规模",
    "所属行业",
    "法定代表人",
    "法定代表人身份证号",
    "联系人手机号",
    "经营地址",
    "申请担保金额（元）",
    "担保期限（月）",
    "担保期间",
    "贷款银行",
    "借款用途",
    "经办客户经理",
]
FORMULA = {**VALID, "applicant_name": "=1+1", "purpose": "@SUM(A1)"}
PLAIN = {**VALID, "applicant_name": "乙方导出测试公司", "purpose": "-2+3 购买原材料"}


def export_bundle(target: Path) -> Path:
    """The template, with ``export`` on the form for account managers (own records),
    risk officers and finance (all), and finance seeing no purpose at all."""
    shutil.copytree(TEMPLATE, target)
    perms_path = target / "permissions.json"
    perms = json.loads(perms_path.read_text(encoding="utf-8"))
    for role in ("account_manager", "risk_officer", "finance"):
        actions = perms["grants"][role]["form:application"]
        if "export" not in actions:  # the template already grants it to risk officers
            actions.append("export")
    perms["field_rules"]["finance"]["application"]["purpose"] = "hidden"
    perms_path.write_text(json.dumps(perms, ensure_ascii=False), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
async def exporting(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> TenantFixture:
    slug = f"exp{uuid.uuid4().hex[:8]}"
    bundle = export_bundle(Path(tmp_path_factory.mktemp("bundle")) / "b")
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


async def _create(
    client: httpx.AsyncClient, slug: str, csrf: str, data: dict[str, object], submit: bool
) -> dict[str, object]:
    made = await client.post(records_url(slug), json={"data": data}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    record: dict[str, object] = made.json()
    if submit:
        done = await client.post(
            records_url(slug, str(record["id"]), "submit"), headers={"X-CSRF-Token": csrf}
        )
        assert done.status_code == 200, done.text
        record = done.json()
    return record


def _csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def _by_name(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    header = rows[0]
    return {row[3]: dict(zip(header, row, strict=True)) for row in rows[1:]}


def _china(iso: str) -> str:
    moment = datetime.datetime.fromisoformat(iso).astimezone(ZoneInfo("Asia/Shanghai"))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


async def test_export_csv_and_xlsx_in_scope_and_neutralised(
    make_client: ClientFactory, exporting: TenantFixture, tenants: dict[str, TenantFixture]
) -> None:
    slug = exporting.slug
    mine, _ = await new_user(exporting, ["account_manager"], "business")
    other, _ = await new_user(exporting, ["account_manager"], "business")
    risk, _ = await new_user(exporting, ["risk_officer"], "risk")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        await _create(client, "alpha", csrf, {"applicant_name": "阿尔法不该出现"}, False)
    async with make_client() as client:
        csrf = await sign_in(client, slug, mine)
        submitted = await _create(client, slug, csrf, FORMULA, True)
        draft = await _create(client, slug, csrf, {"applicant_name": "我的草稿"}, False)
        own_csv = await client.get(records_url(slug, "export.csv"))
        own_xlsx = await client.get(records_url(slug, "export.xlsx"))
        drafts_only = await client.get(records_url(slug, "export.csv"), params={"status": "draft"})
    async with make_client() as client:
        csrf = await sign_in(client, slug, other)
        await _create(client, slug, csrf, PLAIN, False)
        theirs = await client.get(records_url(slug, "export.csv"))
    async with make_client() as client:
        await sign_in(client, slug, risk)
        everything = await client.get(records_url(slug, "export.csv"))

    # CSV: the caller's own records only, headers in Chinese, formulas neutralised.
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    assert own_csv.headers["content-disposition"] == (
        f'attachment; filename="application-{today}.csv"'
    )
    rows = _csv_rows(own_csv)
    assert rows[0] == HEADERS
    found = _by_name(rows)
    assert set(found) == {"'=1+1", "我的草稿"}
    row = found["'=1+1"]
    assert row["编号"] == submitted["number"] and row["状态"] == "已提交"
    assert row["创建时间"] == _china(str(submitted["created_at"]))
    assert row["借款用途"] == "'@SUM(A1)"
    assert row["企业规模"] == "小型企业" and row["所属行业"] == "信息传输、软件和信息技术服务业"
    assert row["申请担保金额（元）"] == "3000000" and row["担保期限（月）"] == "12"
    assert row["法定代表人身份证号"] == VALID_ID  # account managers see it in full
    assert found["我的草稿"]["状态"] == "草稿" and found["我的草稿"]["编号"] == ""
    assert [r[3] for r in _csv_rows(drafts_only)[1:]] == ["我的草稿"]
    assert [r[3] for r in _csv_rows(theirs)[1:]] == ["乙方导出测试公司"]
    assert _by_name(_csv_rows(theirs))["乙方导出测试公司"]["借款用途"] == "'-2+3 购买原材料"
    assert set(_by_name(_csv_rows(everything))) == {"'=1+1", "我的草稿", "乙方导出测试公司"}
    assert "阿尔法" not in everything.content.decode("utf-8-sig")

    # XLSX: the same rows; numbers stay numbers, money formatted, header bold and frozen.
    assert own_xlsx.status_code == 200, own_xlsx.text
    assert own_xlsx.headers["content-disposition"].endswith(f'application-{today}.xlsx"')
    sheet = load_workbook(io.BytesIO(own_xlsx.content)).worksheets[0]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header == HEADERS and all(c.font.bold for c in sheet[1])
    table = {r[3].value: r for r in sheet.iter_rows(min_row=2)}
    assert set(table) == {"'=1+1", "我的草稿"}
    cells = dict(zip(header, table["'=1+1"], strict=True))
    assert cells["申请人名称"].data_type == "s" and cells["借款用途"].value == "'@SUM(A1)"
    assert cells["申请担保金额（元）"].value == 3000000
    assert cells["申请担保金额（元）"].number_format == "#,##0.00"
    assert cells["担保期限（月）"].value == 12
    assert cells["状态"].value == "已提交" and cells["企业规模"].value == "小型企业"
    created = cells["创建时间"].value
    assert isinstance(created, datetime.datetime)
    assert created.strftime("%Y-%m-%d %H:%M:%S") == _china(str(submitted["created_at"]))
    assert not any(r[0].data_type == "f" for r in sheet.iter_rows())
    assert draft["id"]


async def test_export_applies_field_rules_and_locale(
    make_client: ClientFactory, exporting: TenantFixture
) -> None:
    slug = exporting.slug
    manager, _ = await new_user(exporting, ["account_manager"])
    finance, _ = await new_user(exporting, ["finance"])
    async with make_client() as client:
        csrf = await sign_in(client, slug, manager)
        await _create(client, slug, csrf, {**VALID, "applicant_name": "财务看脱敏"}, False)
    async with make_client() as client:
        await sign_in(client, slug, finance)
        as_csv = await client.get(records_url(slug, "export.csv"))
        as_xlsx = await client.get(records_url(slug, "export.xlsx"))
        in_english = await client.get(records_url(slug, "export.csv"), params={"lang": "en"})
    rows = _csv_rows(as_csv)
    assert rows[0] == [h for h in HEADERS if h != "借款用途"]
    row = _by_name(rows)["财务看脱敏"]
    assert row["法定代表人身份证号"] == "1101**********002X"
    assert row["联系人手机号"] == "138****8000"
    assert VALID_ID not in as_csv.text and "13800138000" not in as_csv.text
    assert VALID["purpose"] not in as_csv.content.decode("utf-8-sig")
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert "借款用途" not in header
    values = [c.value for r in sheet.iter_rows(min_row=2) for c in r]
    assert VALID_ID not in values and "1101**********002X" in values
    english = _csv_rows(in_english)
    assert english[0][:3] == ["Number", "Status", "Created at"]
    assert _by_name(english)["财务看脱敏"]["Status"] == "Draft"


async def test_export_refusals_and_audit(
    make_client: ClientFactory, exporting: TenantFixture
) -> None:
    slug = exporting.slug
    manager, _ = await new_user(exporting, ["account_manager"])
    legal, _ = await new_user(exporting, ["legal"])
    async with make_client() as client:
        anonymous = await client.get(records_url(slug, "export.csv"))
        anonymous_xlsx = await client.get(records_url(slug, "export.xlsx"))
    assert anonymous.status_code == 401 and anonymous_xlsx.status_code == 401
    async with make_client() as client:
        await sign_in(client, slug, legal)
        refused = await client.get(records_url(slug, "export.csv"))
        refused_xlsx = await client.get(records_url(slug, "export.xlsx"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert refused_xlsx.status_code == 403
    async with make_client() as client:
        csrf = await sign_in(client, slug, manager)
        await _create(client, slug, csrf, {**VALID, "applicant_name": "审计导出公司"}, False)
        done = await client.get(
            records_url(slug, "export.xlsx"), params={"q": "审计导出", "status": "draft"}
        )
        unknown = await client.get("/t/" + slug + "/api/forms/nope/records/export.csv")
        bad = await client.get(records_url(slug, "export.csv"), params={"sort": "data"})
    assert done.status_code == 200 and unknown.status_code == 404 and bad.status_code == 400
    with tenant_scope(exporting.context):
        async with in_transaction():
            denied = await AuditEvent.filter(action="authz.denied").order_by("seq")
            exported = await AuditEvent.filter(action="records.exported").order_by("-seq").first()
    assert any(e.data == {"action": "export"} and e.object_id == "form:application" for e in denied)
    assert exported is not None and exported.object_id == "application"
    assert exported.data == {
        "format": "xlsx",
        "rows": 1,
        "filters": {"status": "draft", "sort": "-created_at", "search": True},
    }
    text = str(exported.data)
    assert "审计导出" not in text and VALID_ID not in text and VALID["purpose"] not in text


def test_content_disposition_names_non_ascii_files() -> None:
    assert content_disposition("application-20261128.csv") == (
        'attachment; filename="application-20261128.csv"'
    )
    assert content_disposition("申请-20261128.xlsx") == (
        'attachment; filename="__-20261128.xlsx"; '
        "filename*=UTF-8''%E7%94%B3%E8%AF%B7-20261128.xlsx"
    )
