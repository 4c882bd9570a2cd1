"""A form's record list as a download: ``…/records/export.csv`` and ``…/export.xlsx``.

The caller needs ``export`` on ``form:<id>``; the rows are the ones the list API would
show them (same filters and sort, same data scope and field rules). The file is built
inside the request's transaction (the tenant context and row-level security end with
it) into a spooled temporary file, which is streamed out afterwards.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Iterator
from typing import IO, Literal
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from danbao.audit import record_event
from danbao.records import export
from danbao.records.access import scope_of
from danbao.web.errors import locale_of
from danbao.web.records_api import authorise, list_query
from danbao.web.tenant_endpoint import services_of, tenant_endpoint

Format = Literal["csv", "xlsx"]
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
SPOOL_BYTES = 4 * 1024 * 1024  # larger files go to disk
CHUNK_BYTES = 64 * 1024


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and, if needed, RFC 5987 ``filename*``."""
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(CHUNK_BYTES):
        yield chunk


async def _export(request: Request, fmt: Format) -> Response:
    ctx = await authorise(request, "export")
    query = list_query(request)
    locale = locale_of(request)
    rules = ctx.rules
    scope = scope_of(ctx.enforcer, ctx.user, ctx.form.form_id)
    cols = export.columns(ctx.form, rules, locale)
    cells = export.rows(ctx.form, scope, query, rules, locale, keys=services_of(request).keys)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed below
    try:
        if fmt == "csv":
            count = await export.write_csv(spool, cols, cells)
        else:
            title = export.localised(ctx.form.content.get("title"), locale) or ctx.form.form_id
            count = await export.write_xlsx(spool, cols, cells, title)
        filters = {"status": query.status, "sort": query.sort, "search": bool(query.q)}
        await record_event(
            "records.exported",
            "form",
            ctx.form.form_id,
            {"format": fmt, "rows": count, "filters": filters},
        )
    except BaseException:
        spool.close()
        raise
    today = datetime.datetime.now(export.CHINA).strftime("%Y%m%d")
    filename = f"{ctx.form.form_id}-{today}.{fmt}"
    return StreamingResponse(
        _chunks(spool),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": content_disposition(filename),
            "Cache-Control": "no-store",
        },
        background=BackgroundTask(spool.close),
    )


@tenant_endpoint()
async def records_export_csv(request: Request) -> Response:
    """
    summary: The caller's record list as CSV (UTF-8 with BOM; ?status=&q=&sort= as the list)
    tags: [records]
    parameters:
      - {name: status, in: query, schema: {enum: [draft, submitted]}}
      - {name: q, in: query, schema: {type: string}, description: number or first text field}
      - {name: sort, in: query, schema: {enum: [created_at, -created_at, number, -number]}}
    responses:
      200: {description: "A CSV attachment: number, status, created at, the visible fields"}
      403: {description: Not allowed (needs form:<id> export)}
      404: {description: No such form}
    """
    return await _export(request, "csv")


@tenant_endpoint()
async def records_export_xlsx(request: Request) -> Response:
    """
    summary: The caller's record list as an XLSX workbook (?status=&q=&sort= as the list)
    tags: [records]
    parameters:
      - {name: status, in: query, schema: {enum: [draft, submitted]}}
      - {name: q, in: query, schema: {type: string}, description: number or first text field}
      - {name: sort, in: query, schema: {enum: [created_at, -created_at, number, -number]}}
    responses:
      200: {description: "An XLSX attachment: number, status, created at, the visible fields"}
      403: {description: Not allowed (needs form:<id> export)}
      404: {description: No such form}
    """
    return await _export(request, "xlsx")


ROUTES = [
    Route("/forms/{form_id}/records/export.csv", records_export_csv, methods=["GET"]),
    Route("/forms/{form_id}/records/export.xlsx", records_export_xlsx, methods=["GET"]),
]
