"""A project's timeline over HTTP: ``GET /t/{slug}/api/projects/{id}/timeline``.

Whoever sees the project (``project_in_scope``) reads its timeline; the entries say what
happened and who did it, never field values (``guarantee.timeline``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from danbao.guarantee.timeline import MAX_PAGE, timeline
from danbao.web.errors import HttpError, locale_of
from danbao.web.projects_api import project_in_scope
from danbao.web.tenant_endpoint import tenant_endpoint


def paging(request: Request) -> tuple[int | None, int]:
    """``before`` (a seq from the previous page) and ``limit`` of the query, checked."""
    params = request.query_params
    try:
        before = int(params["before"]) if params.get("before") else None
        limit = int(params.get("limit") or 50)
    except ValueError as exc:
        raise HttpError(400, "bad_request", params={"detail": "before, limit: numbers"}) from exc
    if not 1 <= limit <= MAX_PAGE or (before is not None and before < 1):
        detail = f"limit 1-{MAX_PAGE}, before >= 1"
        raise HttpError(400, "bad_request", params={"detail": detail})
    return before, limit


@tenant_endpoint()
async def project_timeline(request: Request) -> Response:
    """
    summary: The project's timeline, newest first (?before=&limit=)
    description: >-
      Everything that happened to the project, its application, approvals (decisions,
      opinions, routes), documents and signatures, tickets and plug-in checks. Pass
      next_before as before for the next, older page.
    tags: [projects]
    responses:
      200:
        description: "{items: [{seq, at, category, action, title, actor, lines, link}],
          next_before}"
      400: {description: Bad parameters}
      403: {description: Not allowed (needs project:* read)}
      404: {description: No such project in the caller's scope}
    """
    _, _, _, project = await project_in_scope(request)
    before, limit = paging(request)
    page = await timeline(project, locale_of(request), before=before, limit=limit)
    return JSONResponse(
        {"items": [e.as_json() for e in page.entries], "next_before": page.next_before}
    )


ROUTES = [Route("/projects/{project_id}/timeline", project_timeline, methods=["GET"])]
