"""``…/records/{record_id}/signatures``: start an e-signature flow for a record's document,
and list the record's flows with their current status.

Starting needs ``update`` on the form and the record in scope; the vendor is told to call
back at this tenant's own callback URL.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.plugins import results as r
from danbao.plugins.errors import PluginError
from danbao.plugins.signing import FileNotFound, signatures_of, start_signing
from danbao.web.errors import HttpError
from danbao.web.guards import read_json
from danbao.web.plugins_api import plugin_http_error
from danbao.web.records_api import record_from_path
from danbao.web.tenant_endpoint import cookie_path, services_of, tenant_endpoint

SIGNER_KINDS = ("person", "organisation")


def _signers(raw: Any) -> tuple[r.SignerSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise HttpError(
            422, "invalid", details=[{"pointer": "/signers", "message": "at least one"}]
        )
    signers = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or not s.get("name") or s.get("kind") not in SIGNER_KINDS:
            raise HttpError(
                422,
                "invalid",
                details=[
                    {"pointer": f"/signers/{i}", "message": "name and kind (person | organisation)"}
                ],
            )
        signers.append(
            r.SignerSpec(str(s["name"]), s["kind"], s.get("mobile"), s.get("id_no"), s.get("uscc"))
        )
    return tuple(signers)


@tenant_endpoint()
async def signatures_start(request: Request) -> Response:
    """
    summary: Start an e-signature flow for one of the tenant's stored PDFs, for this record
    tags: [records]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [file_id, title, signers]
            properties:
              file_id: {type: string}
              title: {type: string}
              signers: {type: array, items: {type: object}}
              plugin: {type: string, description: "plug-in id (default: first enabled)"}
    responses:
      201: {description: "{flow, signed_files}"}
      404: {description: No such record in scope, or no such file}
      409: {description: No e-signature plug-in enabled}
      422: {description: "details: [{pointer, message}]"}
    """
    _, record = await record_from_path(request, "update")
    body = await read_json(request)
    if not isinstance(body, dict) or not body.get("file_id") or not body.get("title"):
        raise HttpError(422, "invalid", details=[{"pointer": "", "message": "file_id and title"}])
    signers = _signers(body.get("signers"))
    services = services_of(request)
    callbacks = str(request.base_url).rstrip("/") + cookie_path(request) + "api/callbacks/"
    try:
        started = await start_signing(
            services.plugins,
            services.store,
            record_id=str(record.id),
            file_id=str(body["file_id"]),
            title=str(body["title"])[:100],
            signers=signers,
            callback_base=callbacks,
            plugin_id=str(body["plugin"]) if body.get("plugin") else None,
        )
    except FileNotFound as exc:
        raise HttpError(404, "not_found") from exc
    except PluginError as failure:
        raise plugin_http_error(failure) from failure
    return JSONResponse({"flow": started.flow, "signed_files": started.signed_files}, 201)


@tenant_endpoint()
async def signatures_index(request: Request) -> Response:
    """
    summary: The record's e-signature flows, newest first, with their current status
    tags: [records]
    responses:
      200: {description: "{items: [{plugin, started_at, flow, status}]}"}
    """
    _, record = await record_from_path(request, "read")
    return JSONResponse(
        {"items": await signatures_of(services_of(request).plugins, str(record.id))}
    )


ROUTES = [
    Route("/forms/{form_id}/records/{record_id}/signatures", signatures_start, methods=["POST"]),
    Route("/forms/{form_id}/records/{record_id}/signatures", signatures_index, methods=["GET"]),
]
