"""The tenant context: a ``contextvars`` value carried through requests and jobs.

Code that reaches tenant-owned data reads it here. A missing context is an error,
never "all tenants".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, NewType

TenantId = NewType("TenantId", uuid.UUID)

PrincipalKind = Literal["user", "applicant", "system", "operator", "anonymous"]


class MissingTenantContext(RuntimeError):
    """Raised when tenant-owned data is touched with no tenant in context."""


@dataclass(frozen=True)
class Principal:
    """Who acts: a user, the system (jobs), an operator (provisioning) or nobody yet."""

    kind: PrincipalKind
    id: str
    name: str = ""

    @classmethod
    def system(cls, purpose: str) -> Principal:
        return cls("system", purpose, purpose)

    @classmethod
    def operator(cls, name: str) -> Principal:
        return cls("operator", name, name)


ANONYMOUS = Principal("anonymous", "-")


@dataclass(frozen=True)
class TenantContext:
    tenant_id: TenantId
    slug: str
    principal: Principal = ANONYMOUS

    def acting_as(self, principal: Principal) -> TenantContext:
        return TenantContext(self.tenant_id, self.slug, principal)


_current: ContextVar[TenantContext | None] = ContextVar("danbao_tenant", default=None)


def current_tenant() -> TenantContext:
    ctx = _current.get()
    if ctx is None:
        raise MissingTenantContext("no tenant in context: tenant-owned data needs one")
    return ctx


def current_tenant_or_none() -> TenantContext | None:
    return _current.get()


@contextmanager
def tenant_scope(ctx: TenantContext) -> Iterator[TenantContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_principal(principal: Principal) -> TenantContext:
    """Record who acts for the rest of the current scope (after authentication)."""
    ctx = current_tenant().acting_as(principal)
    _current.set(ctx)
    return ctx
