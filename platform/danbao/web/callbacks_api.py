"""``POST /t/{slug}/api/callbacks/{plugin_id}``: vendors' notifications, verified, applied once.

No session: the vendor proves itself by signing with the secret in this tenant's settings
of that plug-in, so a callback can only ever speak for the tenant whose URL it used. A
bad signature is a 401 and an audit event; a replay (the vendor retries, or someone
resends a captured request) is answered 200 and changes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.db.models import PluginCallback
from danbao.plugins import catalog, tenant_config
from danbao.plugins.errors import NotEnabled, PermanentError, UnknownPlugin
from danbao.tenancy.context import Principal, set_principal
from danbao.web.errors import AuditNote, HttpError
from danbao.web.tenant_endpoint import services_of, tenant_endpoint

MAX_CALLBACK_BYTES = 1024 * 1024


@tenant_endpoint(login_required=False)
async def plugin_callback(request: Request) -> Response:
    """
    summary: A vendor's signed notification (e.g. an e-signature flow finished)
    tags: [plugins]
    security: []
    responses:
      200: {description: "{ok: true, duplicate?: true}: applied, or seen before"}
      401: {description: The signature does not verify with this tenant's secret (audited)}
      404: {description: No such plug-in, it takes no callbacks, or it is not enabled here}
    """
    plugin_id = request.path_params["plugin_id"]
    set_principal(Principal.system(f"callback:{plugin_id}"))
    try:
        plugin = catalog.get(plugin_id)
        config = await tenant_config.load(services_of(request).keys, plugin)
    except (UnknownPlugin, NotEnabled) as exc:
        raise HttpError(404, "not_found") from exc
    if not callable(getattr(plugin, "verify_callback", None)):
        raise HttpError(404, "not_found")
    body = await request.body()
    if len(body) > MAX_CALLBACK_BYTES:
        raise HttpError(413, "bad_request", params={"detail": "body too large"})
    instance = plugin(config.settings)
    try:
        event = instance.verify_callback(request.headers, request.query_params, body)  # type: ignore[attr-defined]
    except PermanentError as refused:
        note = AuditNote("plugin.callback_rejected", "plugin", plugin_id, {"reason": str(refused)})
        raise HttpError(401, "unauthenticated", audit=note) from refused
    finally:
        await instance.aclose()
    try:
        async with in_transaction():  # a savepoint: a duplicate leaves the request intact
            await PluginCallback.create(
                plugin_id=plugin_id,
                event_id=event.event_id,
                flow_id=event.flow_id,
                action=event.action,
                status=event.status,
            )
    except IntegrityError:
        return JSONResponse({"ok": True, "duplicate": True})
    await record_event(
        "plugin.callback",
        "plugin",
        plugin_id,
        {"flow_id": event.flow_id, "action": event.action, "status": event.status},
    )
    return JSONResponse({"ok": True})


ROUTES = [Route("/callbacks/{plugin_id}", plugin_callback, methods=["POST"])]
