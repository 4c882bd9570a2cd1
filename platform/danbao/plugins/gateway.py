"""The one call path every plug-in call takes.

In order: the plug-in and operation exist and the tenant enabled it; a personal-data
query has the subject's consent on file; a recent answer to the same question is
reused instead of a new (paid) query; the tenant's rate limit; the circuit breaker;
then the call itself under a timeout, retried with backoff on transient errors only
(and a non-idempotent operation only when the vendor never got it). The answer is
checked against the kind's normalised type, stored encrypted, and every call — answered,
reused, refused or failed — leaves one audit event naming who asked, why, and on
which consent. A plug-in that raises something unexpected is isolated: the caller gets
:class:`PluginFailed`, never the plug-in's exception.

Network calls happen outside any transaction this module opens; callers should not
hold one open around :meth:`PluginGateway.call` either (jobs do not).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from purgatory import AsyncCircuitBreakerFactory, AsyncInMemoryUnitOfWork, AsyncRedisUnitOfWork
from purgatory.domain.model import OpenedState
from redis.asyncio import ConnectionPool
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.authz.masking import mask_value
from danbao.crypto.fields import (
    FieldPath,
    blind_index,
    decrypt_value,
    encrypt_value,
    envelope_version,
)
from danbao.crypto.tenant_keys import DATA, INDEX, TenantKeys
from danbao.db.models import PluginResult, StoredFile
from danbao.tenancy.context import current_tenant

from . import catalog, tenant_config
from .breaker_store import RedisBreakerStore
from .errors import (
    CircuitOpen,
    ConsentRequired,
    NotEnabled,
    PermanentError,
    PluginError,
    PluginFailed,
    RateLimited,
    TransientError,
    UnknownOperation,
)
from .results import to_json
from .sdk import Operation, Plugin

log = logging.getLogger(__name__)

BREAKER_THRESHOLD = 5  # consecutive failures that open the circuit
BREAKER_TTL_S = 30.0  # how long it stays open before one trial call
# Refused before anything reached the vendor (as opposed to failed on the way).
REFUSALS = (NotEnabled, ConsentRequired, RateLimited, CircuitOpen)


@dataclass
class _Tally:
    """Attempts made so far, readable after a failure too (for the audit event)."""

    attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    """A plug-in's answer as JSON data, and how it was obtained."""

    data: dict[str, Any]
    result_id: str
    reused: bool
    attempts: int


class PluginGateway:
    def __init__(
        self,
        keys: TenantKeys,
        *,
        redis_url: str | None = None,
        lookup: Any = catalog.get,
        backoff_s: float = 0.2,
    ) -> None:
        self.keys = keys
        self.lookup = lookup
        self.backoff_s = backoff_s
        # With Redis, every process shares one budget and one view of each circuit.
        self._pool = ConnectionPool.from_url(redis_url) if redis_url else None
        storage: Storage = (
            RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix="danbao:plugin-rate",
                connection_pool=self._pool,  # type: ignore[arg-type]  # typed too narrowly
            )
            if redis_url
            else MemoryStorage()
        )
        self.limiter = MovingWindowRateLimiter(storage)
        self._breaker_uow = RedisBreakerStore(redis_url) if redis_url else AsyncInMemoryUnitOfWork()
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=BREAKER_THRESHOLD, default_ttl=BREAKER_TTL_S, uow=self._breaker_uow
        )
        self._started = False

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if isinstance(self._breaker_uow, AsyncRedisUnitOfWork):
            repository: Any = self._breaker_uow.contexts
            await repository.redis.aclose()

    async def _start(self) -> None:
        if not self._started:
            await self.breakers.initialize()
            self._started = True

    async def call(
        self,
        plugin_id: str,
        operation: str,
        request: Any,
        *,
        purpose: str,
        consent_document_id: str | None = None,
        record_id: str | None = None,
    ) -> Outcome:
        await self._start()
        plugin = self.lookup(plugin_id)
        op = plugin.operations().get(operation)
        if op is None:
            raise UnknownOperation(f"{plugin_id} ({plugin.kind}) has no operation {operation!r}")
        if not isinstance(request, op.request):
            raise TypeError(f"{operation} takes a {op.request.__name__}")
        audit = {
            "operation": operation,
            "purpose": purpose,
            "consent_document_id": consent_document_id,
            "record_id": record_id,
            "subject": _subject(request),
        }
        started = time.perf_counter()
        tally = _Tally()
        request_hash: str | None = None
        try:
            # Short transactions around the database work (row-level security needs one),
            # none around the vendor call: one before it, one after. The one before is
            # skipped when there is nothing to read: settings already held by this process,
            # no consent to check, no earlier answer that could be reused.
            config = tenant_config.cached(plugin)
            if config is None or op.needs_consent or _may_reuse(op, config.policy):
                async with in_transaction():
                    config = await tenant_config.load(self.keys, plugin)
                    if op.needs_consent:
                        await _require_consent(consent_document_id)
                    if _may_reuse(op, config.policy):
                        request_hash = await self._request_hash(plugin_id, operation, request)
                        reused = await self._reusable(
                            plugin_id, op, request_hash, config.policy.reuse_days
                        )
                        if reused is not None:
                            await self._audit(
                                plugin_id, audit, "reused", started, 0, reused.result_id
                            )
                            return reused
            if not await self.limiter.hit(
                RateLimitItemPerMinute(config.policy.rate_per_minute),
                str(current_tenant().tenant_id),
                plugin_id,
            ):
                raise RateLimited(
                    f"{plugin_id}: more than {config.policy.rate_per_minute} calls a minute"
                )
            instance = plugin(config.settings)
            try:
                result = await self._invoke(instance, op, request, config.policy, tally)
            finally:
                await instance.aclose()
            data = to_json(result)
        except PluginError as failure:
            outcome = "refused" if isinstance(failure, REFUSALS) else "failed"
            async with in_transaction():
                # Kept on the exception so an HTTP edge can write it again after its rollback.
                failure.audit_data = await self._audit(
                    plugin_id, audit, outcome, started, tally.attempts, None, error=failure.code
                )
            raise
        async with in_transaction():
            if request_hash is None:
                request_hash = await self._request_hash(plugin_id, operation, request)
            row = await self._store(plugin_id, operation, request_hash, purpose, record_id, data)
            await self._audit(plugin_id, audit, "answered", started, tally.attempts, str(row.id))
        return Outcome(data, str(row.id), False, tally.attempts)

    async def _invoke(
        self,
        instance: Plugin,
        op: Operation,
        request: Any,
        policy: tenant_config.CallPolicy,
        tally: _Tally,
    ) -> Any:
        breaker_name = f"{current_tenant().tenant_id}:{instance.id}"
        # The vendor saying "no" is an answer, not an outage: it never opens the circuit.
        breaker = await self.breakers.get_breaker(breaker_name, exclude=[PermanentError])
        method = getattr(instance, op.name)

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, TransientError) and (op.idempotent or not exc.delivered)

        try:
            async with breaker:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(policy.max_attempts),
                    wait=wait_exponential_jitter(
                        multiplier=self.backoff_s, max=5 * self.backoff_s, jitter=self.backoff_s
                    ),
                    retry=retry_if_exception(retryable),
                    reraise=True,
                ):
                    with attempt:
                        tally.attempts += 1
                        result = await _one_attempt(method, request, policy.timeout_s)
        except OpenedState as opened:
            raise CircuitOpen(f"{instance.id}: recent calls failed; try again later") from opened
        if not isinstance(result, op.result):
            raise PluginFailed(f"{instance.id} answered {type(result).__name__}, not {op.result}")
        return result

    async def _request_hash(self, plugin_id: str, operation: str, request: Any) -> str:
        index_key = await self.keys.current(INDEX)
        canonical = json.dumps(to_json(request), sort_keys=True, ensure_ascii=False)
        return blind_index(index_key.key, f"plugin:{plugin_id}", operation, canonical)

    async def _reusable(
        self, plugin_id: str, op: Operation, request_hash: str, reuse_days: int
    ) -> Outcome | None:
        since = datetime.now(UTC) - timedelta(days=reuse_days)
        row = (
            await PluginResult.filter(
                plugin_id=plugin_id,
                operation=op.name,
                request_hash=request_hash,
                created_at__gte=since,
            )
            .order_by("-created_at")
            .first()
        )
        if row is None:
            return None
        return Outcome(await self.open(row), str(row.id), True, 0)

    async def _store(
        self,
        plugin_id: str,
        operation: str,
        request_hash: str,
        purpose: str,
        record_id: str | None,
        data: dict[str, Any],
    ) -> PluginResult:
        """Inside the caller's transaction."""
        ctx = current_tenant()
        key = await self.keys.current(DATA)
        sealed = encrypt_value(
            key, str(ctx.tenant_id), FieldPath(f"plugin:{plugin_id}", operation), json.dumps(data)
        )
        return await PluginResult.create(
            plugin_id=plugin_id,
            operation=operation,
            request_hash=request_hash,
            record_id=record_id,
            purpose=purpose,
            result=sealed,
            created_by=ctx.principal.id,
        )

    async def open(self, row: PluginResult) -> dict[str, Any]:
        key = await self.keys.get(DATA, envelope_version(row.result))
        path = FieldPath(f"plugin:{row.plugin_id}", row.operation)
        data: dict[str, Any] = json.loads(
            decrypt_value(key, str(current_tenant().tenant_id), path, row.result)
        )
        return data

    async def stored(self, result_id: str) -> dict[str, Any] | None:
        """A stored answer of the tenant in context, decrypted (None if not there)."""
        async with in_transaction():
            row = await PluginResult.filter(id=result_id).first()
            return None if row is None else await self.open(row)

    async def _audit(
        self,
        plugin_id: str,
        audit: dict[str, Any],
        outcome: str,
        started: float,
        attempts: int,
        result_id: str | None,
        *,
        error: str | None = None,
    ) -> dict[str, Any]:
        data = {
            **audit,
            "outcome": outcome,
            "attempts": attempts,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "result_id": result_id,
        }
        if error:
            data["error"] = error
        await record_event("plugin.called", "plugin", plugin_id, data)  # caller's transaction
        return data


def _may_reuse(op: Operation, policy: tenant_config.CallPolicy) -> bool:
    return op.reusable and policy.reuse_days > 0


async def _one_attempt(method: Any, request: Any, timeout_s: float) -> Any:
    try:
        async with asyncio.timeout(timeout_s):
            return await method(request)
    except PluginError:
        raise
    except TimeoutError as exc:
        raise TransientError(f"no answer within {timeout_s} s") from exc
    except Exception as exc:
        # A bug in a plug-in must not reach the caller as its own exception type.
        log.exception("plug-in %s raised", type(method.__self__).__name__)
        raise PluginFailed(f"the plug-in raised {type(exc).__name__}") from exc


async def _require_consent(document_id: str | None) -> None:
    """A personal credit query needs the subject's signed consent among the tenant's files."""
    if not document_id:
        raise ConsentRequired("a credit report needs the subject's written consent on file")
    try:
        document = uuid.UUID(document_id)
    except ValueError:
        raise ConsentRequired("the consent document id is not a document id") from None
    if not await StoredFile.filter(id=document).exists():
        raise ConsentRequired("the consent document is not on file for this tenant")


def _subject(request: Any) -> str | None:
    """Who a query is about, masked: the audit trail shows whom, never the full number."""
    for attr in ("id_no", "uscc"):
        value = getattr(request, attr, None)
        if value:
            return mask_value(str(value))
    return None
