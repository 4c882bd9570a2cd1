"""A form's record list as a table, written to CSV or XLSX.

The rows are exactly what the list API would show the caller: the same data scope and
filters inside the query (``access.list_records``, read a page at a time so a long list
never sits in memory whole), and the same field rules (``apply_field_rules``): hidden
fields have no column, masked fields hold the mask.

Every text cell that a spreadsheet would read as a formula (it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) gets a leading ``'``, in both formats, so a value
typed into a form cannot run in the exporter's spreadsheet. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import apply_field_rules
from danbao.authz.scope_query import ScopeFilter
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import Record, User
from danbao.forms.dictionaries import Dictionary, coded_source
from danbao.forms.kinds import as_text, kind_of
from danbao.records.access import ListQuery, list_records
from danbao.records.definition import FormDefinition
from danbao.records.references import user_fields

CHINA = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 500
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
MONEY_FORMAT = "#,##0.00"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"

Kind = Literal[
    "text",
    "number",
    "money",
    "choice",
    "boolean",
    "rows",
    "files",
    "datetime",
    "date_range",
    "address",
    "richtext",
]
Cell = str | int | float | Decimal | datetime.datetime | None

# key -> (zh-CN, en)
_TEXTS: Mapping[str, tuple[str, str]] = {
    "number": ("编号", "Number"),
    "status": ("状态", "Status"),
    "created_at": ("创建时间", "Created at"),
    "draft": ("草稿", "Draft"),
    "submitted": ("已提交", "Submitted"),
    "true": ("是", "Yes"),
    "false": ("否", "No"),
}


def _text(key: str, locale: str) -> str:
    zh, en = _TEXTS[key]
    return en if locale == "en" else zh


def localised(value: Any, locale: str) -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh-CN") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: Kind
    choices: Mapping[str, str] | None = None


def columns(form: FormDefinition, rules: FieldRules, locale: str) -> list[Column]:
    """Number, status, created at, then every field the caller may see, in layout order."""
    result = [
        Column("number", _text("number", locale), "text"),
        Column("status", _text("status", locale), "text"),
        Column("created_at", _text("created_at", locale), "datetime"),
    ]
    widgets = form.content.get("ui", {}).get("fields", {})
    for key in form.field_order:
        if rules.rule(key) == FieldRule.HIDDEN:
            continue
        prop = form.properties[key]
        header = form.label(key, locale)
        options = prop.get("oneOf")
        source = coded_source(prop, form.lookups)
        kind = kind_of(prop)
        if kind in ("date_range", "address", "richtext"):
            names = _names(source, locale) if source is not None else None
            result.append(Column(key, header, kind, names))  # type: ignore[arg-type]
        elif source is not None:
            result.append(Column(key, header, "choice", _names(source, locale)))
        elif isinstance(options, list) and all(
            isinstance(o, dict) and "const" in o for o in options
        ):
            choices = {
                str(o["const"]): localised(o.get("title", o["const"]), locale) for o in options
            }
            result.append(Column(key, header, "choice", choices))
        elif widgets.get(key, {}).get("widget") == "money":
            result.append(Column(key, header, "money"))
        elif prop.get("type") in ("number", "integer"):
            result.append(Column(key, header, "number"))
        elif prop.get("type") == "boolean":
            result.append(Column(key, header, "boolean"))
        elif "x-attachment" in prop:
            result.append(Column(key, header, "files"))
        elif prop.get("type") == "array":
            result.append(Column(key, header, "rows"))
        else:
            result.append(Column(key, header, "text"))
    return result


async def _with_user_names(cols: list[Column], form: FormDefinition) -> list[Column]:
    """User-picker columns show names: the tenant's users, read through the scoped manager."""
    pickers = set(user_fields(form))
    if not any(c.key in pickers for c in cols):
        return cols
    names = {str(i): str(n) for i, n in await User.all().values_list("id", "name")}
    return [replace(c, kind="choice", choices=names) if c.key in pickers else c for c in cols]


def _names(source: Dictionary, locale: str) -> dict[str, str]:
    return {item.code: source.display(item.code, locale) for item in source.items}


def neutralise(text: str) -> str:
    """``'`` before a cell a spreadsheet would take for a formula (OWASP's CSV injection)."""
    return "'" + text if text.startswith(FORMULA_LEADS) else text


def _compact(value: Any) -> str:
    """An array (of objects, usually) as one line: ``a, 1; b, 2``."""
    if not isinstance(value, list):
        return _compact([value])
    parts = []
    for item in value:
        if isinstance(item, dict):
            parts.append(", ".join(_scalar_text(v) for v in item.values() if v is not None))
        else:
            parts.append(_scalar_text(item))
    return "; ".join(parts)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return _compact(value) if isinstance(value, list) else _compact([value])
    return str(value)


def _cell(column: Column, value: Any, locale: str) -> Cell:
    """The cell's value before neutralising: numbers as numbers, all else as text."""
    if value is None:
        return None
    if column.kind == "datetime" and isinstance(value, datetime.datetime):
        return value.astimezone(CHINA).replace(tzinfo=None, microsecond=0)
    if column.kind in ("money", "number") and not isinstance(value, bool):
        if isinstance(value, int | Decimal):
            return value
        if isinstance(value, float):
            return Decimal(repr(value)) if column.kind == "money" else value
    if column.kind in ("date_range", "address", "richtext"):
        return as_text(column.kind, value, column.choices)
    if column.kind == "choice" and column.choices is not None:
        if isinstance(value, list):  # several choices of a dictionary
            return "、".join(column.choices.get(str(v), str(v)) for v in value)
        return column.choices.get(str(value), str(value))
    if column.kind == "boolean" and isinstance(value, bool):
        return _text("true" if value else "false", locale)
    if column.kind == "files" and isinstance(value, list):  # attachment references: the names
        return "; ".join(str(ref.get("name", "")) for ref in value if isinstance(ref, dict))
    if isinstance(value, list | dict):
        return _compact(value)
    return str(value)


def _row(record: Record, cols: list[Column], rules: FieldRules, locale: str) -> list[Cell]:
    data = apply_field_rules(record.data, rules)
    fixed = {
        "number": record.number,
        "status": _text(record.status, locale) if record.status in _TEXTS else record.status,
        "created_at": record.created_at,
    }
    return [_cell(c, fixed[c.key] if c.key in fixed else data.get(c.key), locale) for c in cols]


async def rows(
    form: FormDefinition,
    scope: ScopeFilter | None,
    query: ListQuery,
    rules: FieldRules,
    locale: str,
    *,
    keys: TenantKeys | None = None,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[list[Cell]]:
    """Each record of the caller's list (all its pages), as cells in ``columns`` order;
    with ``keys``, sensitive fields are decrypted before the field rules mask them."""
    cols = await _with_user_names(columns(form, rules, locale), form)
    page = 1
    while True:
        paged = replace(query, page=page, per_page=page_size)
        records, total = await list_records(
            form.form_id, scope, paged, form.search_field, keys=keys
        )
        for record in records:
            yield _row(record, cols, rules, locale)
        if not records or page * page_size >= total:
            return
        page += 1


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        return neutralise(value)
    return str(value)  # a number: never a formula, and "-5" must stay a number


class _Encoder:
    """What ``csv.writer`` writes to: text in, UTF-8 bytes out to the caller's file."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(text.encode("utf-8"))


async def write_csv(out: IO[bytes], cols: list[Column], cells: AsyncIterator[list[Cell]]) -> int:
    """UTF-8 with a BOM (Excel on Chinese Windows reads it right), CRLF, RFC 4180 quoting."""
    out.write("\ufeff".encode())
    writer = csv.writer(_Encoder(out), lineterminator="\r\n")
    writer.writerow([neutralise(c.header) for c in cols])
    count = 0
    async for row in cells:
        writer.writerow([_csv_text(v) for v in row])
        count += 1
    return count


async def write_xlsx(
    out: IO[bytes], cols: list[Column], cells: AsyncIterator[list[Cell]], title: str
) -> int:
    """A write-only workbook (rows go to disk as they come): bold, frozen header row."""
    book = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = book.create_sheet(_sheet_title(title))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for c in cols:
        cell = WriteOnlyCell(sheet, value=neutralise(c.header))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    async for row in cells:
        sheet.append([_xlsx_cell(sheet, c, v) for c, v in zip(cols, row, strict=True)])
        count += 1
    book.save(out)
    return count


def _xlsx_cell(sheet: WriteOnlyWorksheet, column: Column, value: Cell) -> WriteOnlyCell:
    if isinstance(value, str):
        # data_type "s": openpyxl would otherwise store a leading "=" as a formula.
        cell = WriteOnlyCell(sheet, value=neutralise(value))
        cell.data_type = "s"
        return cell
    cell = WriteOnlyCell(sheet, value=value)
    if column.kind == "money" and value is not None:
        cell.number_format = MONEY_FORMAT
    elif isinstance(value, datetime.datetime):
        cell.number_format = DATETIME_FORMAT
    return cell


def _sheet_title(title: str) -> str:
    """A worksheet name Excel accepts: at most 31 characters, none of ``[]:*?/\\``."""
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in title).strip("'")
    return cleaned[:31] or "Sheet1"
