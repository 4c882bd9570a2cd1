"""One shape for refusals: JSON for the API, a page for people, in the caller's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from danbao.i18n import negotiate, translate


@dataclass(frozen=True)
class AuditNote:
    """An audit event that must outlive the refusal: written after the rollback."""

    action: str
    object_type: str
    object_id: str
    data: dict[str, Any]


class HttpError(Exception):
    """Raise inside an endpoint to refuse; the request's transaction rolls back."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        params: dict[str, Any] | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        audit: AuditNote | None = None,
    ) -> None:
        super().__init__(code)
        self.audit = audit
        self.status = status
        self.code = code
        self.params = params or {}
        self.details = details
        self.headers = headers


NOT_FOUND = 404


def locale_of(request: Request) -> str:
    return negotiate(
        request.query_params.get("lang"),
        request.cookies.get("lang"),
        request.headers.get("accept-language"),
    )


def is_api(request: Request) -> bool:
    return "/api/" in request.url.path or request.url.path.endswith("/api")


def error_response(request: Request, error: HttpError) -> Response:
    locale = locale_of(request)
    message = translate(locale, f"error.{error.code}", **error.params)
    if is_api(request):
        body: dict[str, Any] = {"error": {"code": error.code, "message": message}}
        if error.details is not None:
            body["error"]["details"] = error.details
        return JSONResponse(body, status_code=error.status, headers=error.headers)
    from danbao.web.templates import render  # pages only; keeps the API free of Jinja

    return render(
        request,
        "error.html",
        {"message": message, "status": error.status},
        status_code=error.status,
        headers=error.headers,
    )
