"""Job functions by name, how a job request is checked, and how a job runs.

A job is ``async def fn(payload: dict) -> Any`` registered with ``@job("name")``. It
always runs inside its tenant's context as the system principal ``job:<name>``, whichever
queue carries it. Payloads travel as JSON, never pickle: a queue must not execute bytes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from danbao.tenancy.context import (
    Principal,
    TenantContext,
    TenantId,
    current_tenant_or_none,
    tenant_scope,
)

JobFunction = Callable[[dict[str, Any]], Awaitable[Any]]
F = TypeVar("F", bound=JobFunction)

DEDUP_SECONDS = 3600
"""How long a finished job's id is remembered, so a repeated enqueue of it is dropped."""

MAX_JOB_ID_LENGTH = 200
_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")

_registry: dict[str, JobFunction] = {}


class UnknownJob(LookupError):
    """No job function is registered under this name."""


class TenantMismatch(PermissionError):
    """Work for one tenant enqueued while another tenant is in context."""


def job(name: str) -> Callable[[F], F]:
    """Register ``fn`` under ``name``; a second registration of the same name is an error."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"job name {name!r} must be dotted lower-case words, e.g. 'sla.remind'")

    def register(fn: F) -> F:
        if name in _registry:
            raise ValueError(f"job {name!r} is already registered")
        _registry[name] = fn
        return fn

    return register


def get_job(name: str) -> JobFunction:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownJob(f"no job registered as {name!r}") from None


def registered_jobs() -> list[str]:
    return sorted(_registry)


def unregister(name: str) -> None:
    """Remove a registration (tests that register jobs of their own)."""
    _registry.pop(name, None)


@dataclass(frozen=True)
class JobRequest:
    name: str
    tenant_id: str
    tenant_slug: str
    payload: dict[str, Any]
    job_id: str


def prepare(
    name: str,
    *,
    tenant_id: uuid.UUID | str,
    tenant_slug: str,
    payload: dict[str, Any],
    job_id: str | None,
) -> JobRequest:
    """Check everything about an enqueue before any queue sees it.

    The effective job id is ``<tenant_id>:<job_id>``: deterministic ids deduplicate within
    a tenant, and one tenant's id can never suppress another tenant's job.
    """
    get_job(name)
    tid = uuid.UUID(str(tenant_id))
    if not isinstance(tenant_slug, str) or not tenant_slug:
        raise ValueError("tenant_slug must be a non-empty string")
    ctx = current_tenant_or_none()
    if ctx is not None and ctx.tenant_id != tid:
        raise TenantMismatch(f"job {name!r} for another tenant enqueued from {ctx.slug!r}")
    if job_id is None:
        job_id = uuid.uuid4().hex
    elif not job_id or len(job_id) > MAX_JOB_ID_LENGTH or not job_id.isprintable():
        raise ValueError(f"job_id must be 1-{MAX_JOB_ID_LENGTH} printable characters")
    return JobRequest(name, str(tid), tenant_slug, _json_copy(name, payload), f"{tid}:{job_id}")


def _json_copy(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the job will see it after a trip through JSON."""
    if not isinstance(payload, dict):
        raise TypeError(f"job {name!r}: payload must be a dict, not {type(payload).__name__}")
    try:
        encoded = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"job {name!r}: payload must be JSON-serialisable (jobs are never pickled): {exc}"
        ) from None
    copied: dict[str, Any] = json.loads(encoded)
    return copied


async def run_job(name: str, tenant_id: str, tenant_slug: str, payload: dict[str, Any]) -> Any:
    """Run job ``name`` in its tenant's context, as the system principal ``job:<name>``."""
    fn = get_job(name)
    ctx = TenantContext(
        TenantId(uuid.UUID(tenant_id)), tenant_slug, Principal.system(f"job:{name}")
    )
    with tenant_scope(ctx):
        return await fn(payload)
