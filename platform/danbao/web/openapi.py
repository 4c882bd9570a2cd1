"""The OpenAPI document, generated from the route table and each endpoint's docstring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

API_PREFIX = "/t/{slug}/api"

_generator = SchemaGenerator(
    {
        "openapi": "3.1.0",
        "info": {
            "title": "Danbao tenant API",
            "version": "1",
            "description": (
                "One guarantor's API. Sign in with POST /session (cookie + CSRF token for "
                "unsafe methods) or send `Authorization: Bearer <API token>`."
            ),
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "danbao_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            }
        },
    }
)
_SLUG_PARAMETER = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}


def build_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    schema = _generator.get_schema(list(routes))
    schema["paths"] = {API_PREFIX + path: ops for path, ops in schema.get("paths", {}).items()}
    for operations in schema["paths"].values():
        for operation in operations.values():
            operation.setdefault("parameters", []).insert(0, _SLUG_PARAMETER)
    return schema


def openapi_response(request: Request, routes: Sequence[BaseRoute]) -> Response:
    return JSONResponse(build_document(routes))
