"""The customer portal's route table, mounted at ``/t/{slug}/portal`` (docs/portal.md)."""

from __future__ import annotations

from starlette.routing import Route

from danbao.web import portal_files, portal_pages, portal_signin, portal_tickets

ROUTES = [
    Route("/login", portal_signin.login, methods=["GET", "POST"]),
    Route("/login/verify", portal_signin.verify, methods=["POST"]),
    Route("/logout", portal_signin.logout, methods=["POST"]),
    *portal_pages.ROUTES,
    *portal_files.ROUTES,
    *portal_tickets.ROUTES,
]
