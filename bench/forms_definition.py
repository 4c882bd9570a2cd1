"""The generated form of bench/forms.py: 150 fields of every kind a guarantor uses, a
repeating section, a complete sample record and the bundle that carries them.

No benchmark of its own (``make bench`` runs it as a script, and it does nothing).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stdnum import luhn
from stdnum.cn import ric, uscc

from danbao.config import REPO_ROOT
from danbao.forms import check

TEMPLATE = REPO_ROOT / "tenants" / "_template"
FORM_ID = "dossier"
ROLE = "account_manager"  # the template's role that may fill it
ROWS = 20
ROWS_FIELD = "collaterals"

Row = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    prefix: str
    count: int
    label: str  # zh-CN label stem; the field's number follows it
    schema: dict[str, Any]
    widget: str


_CHOICE_WORDS = ("甲类", "乙类", "丙类", "丁类", "戊类", "己类", "庚类", "辛类", "壬类", "癸类")

# 149 top-level fields in these kinds, plus the repeating section: 150.
KINDS = (
    Kind("text", 35, "文本项", {"type": "string", "minLength": 1, "maxLength": 100}, "text"),
    Kind("note", 6, "情况说明", {"type": "string", "maxLength": 1000}, "textarea"),
    Kind("count", 14, "数量", {"type": "integer", "minimum": 0, "maximum": 1_000_000}, "number"),
    Kind("measure", 8, "指标", {"type": "number", "minimum": 0, "maximum": 1e9}, "number"),
    Kind("amount", 24, "金额（元）", {"type": "number", "minimum": 0, "maximum": 1e13}, "money"),
    Kind("ratio", 12, "比例（%）", {"type": "number", "minimum": 0, "maximum": 100}, "percent"),
    Kind("day", 14, "日期", {"type": "string", "format": "date"}, "date"),
    Kind("choice", 20, "类别", {"type": "string"}, "select"),  # oneOf added per field
    Kind("flag", 6, "是否符合", {"type": "boolean"}, "switch"),
    Kind("person_id", 3, "身份证号", {"type": "string", "format": "cn-resident-id"}, "id_card"),
    Kind("uscc", 2, "统一社会信用代码", {"type": "string", "format": "cn-uscc"}, "uscc"),
    Kind("mobile", 3, "手机号", {"type": "string", "format": "cn-mobile"}, "mobile"),
    Kind("card", 2, "银行卡号", {"type": "string", "format": "bank-card"}, "bank_account"),
)
SENSITIVE = frozenset({"person_id_01", "person_id_02", "mobile_01", "mobile_02", "card_01"})
CONDITIONAL = 10  # text fields shown only when a switch or a choice says so


def _choices(n: int) -> list[dict[str, str]]:
    size = 4 + n % 9  # 4 to 12 options
    return [{"const": f"c{k}", "title": f"{_CHOICE_WORDS[k % 10]}{k // 10 or ''}"}
            for k in range(size)]  # fmt: skip


def _row_schema() -> dict[str, Any]:
    kinds = [{"const": k, "title": t} for k, t in (("mortgage", "抵押"), ("pledge", "质押"),
                                                   ("guarantee", "保证"))]  # fmt: skip
    return {
        "type": "object",
        "required": ["kind", "description", "owner_name", "appraised_value_yuan"],
        "properties": {
            "kind": {"type": "string", "title": "反担保方式", "oneOf": kinds},
            "description": {"type": "string", "title": "押品描述", "minLength": 2,
                            "maxLength": 300},
            "owner_name": {"type": "string", "title": "所有权人", "minLength": 2, "maxLength": 100},
            "owner_id_number": {"type": "string", "title": "所有权人身份证号",
                                "format": "cn-resident-id"},
            "appraised_value_yuan": {"type": "number", "title": "评估价值（元）", "minimum": 0},
            "haircut_pct": {"type": "number", "title": "折扣率（%）", "minimum": 0, "maximum": 100},
            "registered": {"type": "boolean", "title": "是否已办理登记"},
            "registered_on": {"type": "string", "title": "登记日期", "format": "date"},
            "certificate_no": {"type": "string", "title": "权证编号", "maxLength": 60},
        },
        "additionalProperties": False,
    }  # fmt: skip


def build_form() -> dict[str, Any]:
    """The definition: JSON Schema plus layout, ten sections of fifteen fields."""
    properties: dict[str, Any] = {}
    ui_fields: dict[str, Any] = {}
    for kind in KINDS:
        for i in range(1, kind.count + 1):
            key = f"{kind.prefix}_{i:02d}"
            prop = {**kind.schema, "title": f"{kind.label}{i}"}
            if kind.prefix == "choice":
                prop["oneOf"] = _choices(i)
            if key in SENSITIVE:
                prop["x-sensitive"] = True
            properties[key] = prop
            ui_fields[key] = {
                "widget": kind.widget,
                "label": {"zh-CN": f"{kind.label}{i}", "en": f"{kind.prefix} {i}"},
            }
    for i in range(1, CONDITIONAL + 1):
        trigger = f"flag_{i:02d}" if i <= 6 else f"choice_{i:02d}"
        ui_fields[f"text_{i + 20:02d}"]["visible_when"] = (
            f"{trigger} == true" if i <= 6 else f'{trigger} != "c0"'
        )
    for key in ("amount_01", "ratio_01", "person_id_01"):
        ui_fields[key]["help"] = {"zh-CN": "请按申请材料如实填写", "en": "As in the application"}
        ui_fields[key]["placeholder"] = {"zh-CN": "请输入", "en": "Enter"}
    properties[ROWS_FIELD] = {
        "type": "array",
        "title": "反担保物清单",
        "minItems": 1,
        "maxItems": 50,
        "items": _row_schema(),
    }
    ui_fields[ROWS_FIELD] = {"widget": "table", "label": {"zh-CN": "反担保物清单"}}
    keys = list(properties)
    random.Random(150).shuffle(keys)  # sections mix the kinds, as real forms do
    layout = [
        {
            "id": f"s{n + 1}",
            "title": {"zh-CN": f"第{n + 1}部分", "en": f"Part {n + 1}"},
            "fields": keys[n * 15 : (n + 1) * 15],
        }
        for n in range(10)
    ]
    required = [k for n, k in enumerate(keys) if n % 2 == 0 and not k.startswith("flag")]
    return {
        "id": FORM_ID,
        "title": {
            "zh-CN": "担保项目尽职调查表（150项）",
            "en": "Due diligence dossier (150 fields)",
        },
        "description": {"zh-CN": "基准测试生成的表单。", "en": "Generated by the benchmark."},
        "schema": {
            "type": "object",
            "required": sorted(required + [ROWS_FIELD] * (ROWS_FIELD not in required)),
            "properties": properties,
            "additionalProperties": False,
        },
        "ui": {"layout": layout, "fields": ui_fields},
    }


def _resident_id(n: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=(n % 40) * 397)
    body = f"110101{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _uscc(n: int) -> str:
    body = f"9151010{n % 10}MA61XYQ{n % 10}A"
    return body + uscc.calc_check_digit(body)


def _card(n: int) -> str:
    body = f"62220202001122{n:04d}"
    return body + luhn.calc_check_digit(body)


def _value(prefix: str, i: int) -> Any:
    """The sample value of field ``i`` of a kind."""
    values: dict[str, Any] = {
        "text": f"四川某某建材有限公司第{i}项情况",
        "note": "企业经营正常，近三年营业收入稳步增长，无不良信用记录。" * 4,
        "count": 1200 + i,
        "measure": 35.5 + i,
        "amount": 1_250_000.5 + 1000 * i,
        "ratio": 12.5 + i,
        "day": (date(2020, 1, 1) + timedelta(days=37 * i)).isoformat(),
        "choice": "c1",
        "flag": i % 2 == 1,
        "mobile": f"1391234{5670 + i}",
    }
    if prefix in values:
        return values[prefix]
    return {"person_id": _resident_id, "uscc": _uscc, "card": _card}[prefix](i)


def sample_record(rows: int = ROWS) -> Row:
    """A complete, valid record: every field filled, ``rows`` collateral rows."""
    data: Row = {
        f"{kind.prefix}_{i:02d}": _value(kind.prefix, i)
        for kind in KINDS
        for i in range(1, kind.count + 1)
    }
    data[ROWS_FIELD] = [
        {
            "kind": ("mortgage", "pledge", "guarantee")[r % 3],
            "description": f"成都市高新区某小区{r + 1}号房产",
            "owner_name": f"张{r + 1}",
            "owner_id_number": _resident_id(100 + r),
            "appraised_value_yuan": 800_000 + 50_000 * r,
            "haircut_pct": 30,
            "registered": r % 2 == 0,
            "registered_on": (date(2025, 3, 1) + timedelta(days=r)).isoformat(),
            "certificate_no": f"川(2025)成都市不动产权第{100000 + r}号",
        }
        for r in range(rows)
    ]
    # Every conditional text field shown (its trigger holds), so none is dropped on save:
    # the sample the app stores is the sample the baseline inserts.
    for i in range(1, CONDITIONAL + 1):
        if i <= 6:
            data[f"flag_{i:02d}"] = True
        elif data.get(f"choice_{i:02d}") == "c0":
            data[f"choice_{i:02d}"] = "c1"
    for key, value in data.items():  # the sample must satisfy our own formats
        fmt = FORMAT_OF.get(key.rsplit("_", 1)[0])
        if fmt and check(fmt, value) is not None:
            raise SystemExit(f"sample {key}={value!r}: {check(fmt, value)}")
    return data


FORMAT_OF = {"person_id": "cn-resident-id", "uscc": "cn-uscc", "mobile": "cn-mobile",
             "card": "bank-card"}  # fmt: skip


def write_bundle(folder: Path, form: dict[str, Any]) -> Path:
    """The starter template plus the generated form, which account managers may fill."""
    shutil.copytree(TEMPLATE, folder)
    (folder / "forms" / f"{FORM_ID}.json").write_text(
        json.dumps(form, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    permissions = json.loads((folder / "permissions.json").read_text(encoding="utf-8"))
    permissions["grants"][ROLE][f"form:{FORM_ID}"] = ["read", "create", "update", "submit"]
    permissions["data_scopes"][ROLE][f"form:{FORM_ID}"] = "own"
    (folder / "permissions.json").write_text(
        json.dumps(permissions, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return folder
