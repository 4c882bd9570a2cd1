"""The Starlette application: routes and middleware listed in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from danbao.config import REPO_ROOT, Settings, load_settings
from danbao.db.models import Tenant
from danbao.db.setup import close_db, open_db
from danbao.jobs import InlineQueue
from danbao.logs import configure_logging
from danbao.records import migration_job
from danbao.services import Services
from danbao.web import api, ops, pages, portal
from danbao.web.health import healthz
from danbao.web.middleware import RequestIdMiddleware, TenantHostMiddleware
from danbao.web.templates import render
from danbao.web.vendor import vendor_mounts
from danbao.workflow import sweep


async def index(request: Request) -> Response:
    settings: Settings = request.app.state.services.settings
    # Only the embedded demo lists its guarantors; a production front page names none.
    tenants = (
        await Tenant.filter(status="active").order_by("slug").limit(50)
        if settings.mode == "embedded"
        else []
    )
    return render(request, "index.html", {"tenants": tenants})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    services = Services.build(settings)
    # Embedded mode: this process ticks the approval timers (production: the arq worker).
    embedded = isinstance(services.queue, InlineQueue)
    ticker = sweep.Ticker(services.queue, settings.timer_tick_seconds if embedded else 0)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await open_db(settings, "app")
        # The process-wide job runtimes are this app's only while it runs: an app built
        # and never started (a second app in a test) must not take them over.
        migration_job.use_keys(services.keys)  # jobs run in this process in the embedded mode
        sweep.configure(services.keys, services.plugins)
        await services.start()
        ticker.start()
        try:
            yield
        finally:
            await ticker.stop()
            await services.close()
            await close_db()

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=REPO_ROOT / "console" / "static"), name="static"),
        *vendor_mounts(),
        # The operator console: its own sessions and transactions, never tenant_endpoint.
        Mount("/ops", routes=ops.ROUTES),
        Mount("/t/{slug}/api", routes=api.ROUTES),
        # The customer portal: applicants' own sessions, never a staff one (docs/portal.md).
        Mount("/t/{slug}/portal", routes=portal.ROUTES),
        Mount("/t/{slug}", routes=pages.ROUTES),
    ]
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(
            TenantHostMiddleware, registry=services.registry, base_domain=settings.base_domain
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.services = services
    return app
