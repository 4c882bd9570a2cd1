"""Structured JSON logs carrying the request id and tenant of whatever is running."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from danbao.redaction import redact
from danbao.tenancy.context import current_tenant_or_none

request_id_var: ContextVar[str | None] = ContextVar("danbao_request_id", default=None)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        if getattr(record, "tenant", None) is None:
            ctx = current_tenant_or_none()
            record.tenant = ctx.slug if ctx else None
        # Structured extras pass through the same redaction as the audit trail.
        for key, value in list(vars(record).items()):
            if isinstance(value, dict):
                setattr(record, key, redact(value))
        return True


def json_handler(stream: TextIO) -> logging.Handler:
    """One JSON object per line, with request id and tenant, secrets redacted."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(tenant)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    )
    handler.addFilter(_ContextFilter())
    return handler


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [json_handler(sys.stderr)]
    root.setLevel(level)
    # Tortoise logs every query with its parameters at DEBUG; keep values out of the logs.
    logging.getLogger("tortoise").setLevel(max(logging.INFO, root.level))
    logging.getLogger("db_client").setLevel(max(logging.INFO, root.level))
