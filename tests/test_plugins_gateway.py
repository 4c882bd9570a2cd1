"""The plug-in call path on PostgreSQL: consent, reuse, limits, retries, breaker, audit.

Fault injection goes through a real HTTP server (uvicorn on a free port) that answers
503 as often as a test tells it to, and a plug-in that talks to it with httpx, as a
vendor adapter would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import ClassVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise.transactions import in_transaction

from danbao.authz.propagation import announce
from danbao.crypto.fields import is_envelope
from danbao.db.models import AuditEvent, PluginResult, PluginSetting, StoredFile
from danbao.plugins import (
    CircuitOpen,
    ConsentRequired,
    NotEnabled,
    PluginFailed,
    RateLimited,
    SettingsInvalid,
    TransientError,
    results,
    tenant_config,
)
from danbao.plugins.gateway import Outcome, PluginGateway
from danbao.plugins.sandbox.credit import SandboxCreditBureau
from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.plugins.sandbox.registry import SandboxRegistry
from danbao.plugins.sdk import Label, Plugin, PluginKind
from danbao.plugins.settings_cache import SettingsCache
from danbao.plugins.tenant_config import configure, public_view
from danbao.services import Services
from danbao.tenancy.context import Principal, TenantContext, tenant_scope

from .conftest import REDIS_URL, TenantFixture, serving

PERSON = results.CreditQuery("person", "张三", id_no="11010519491231002X")


# --- a vendor that fails on demand --------------------------------------------------------


class FakeVendor:
    def __init__(self) -> None:
        self.fail_next = 0
        self.delay_s = 0.0
        self.calls = 0

    async def lookup(self, request: Request) -> JSONResponse:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        if request.query_params.get("uscc") == "bad":
            return JSONResponse({"error": "no such company"}, status_code=404)
        return JSONResponse({"name": "成都示例机械有限公司", "status": "存续"})


@pytest.fixture(scope="module")
async def vendor() -> AsyncIterator[tuple[FakeVendor, str]]:
    fake = FakeVendor()
    app = Starlette(routes=[Route("/company", fake.lookup)])
    async with serving(app) as url:
        yield fake, url


class HttpRegistry(Plugin):
    """A registry adapter the way a real one is written: httpx, 5xx is transient."""

    id = "test.http_registry"
    kind = PluginKind.BUSINESS_REGISTRY
    title = Label("测试工商接口", "Test registry")
    timeout_s = 5.0
    settings_schema: ClassVar = {
        "type": "object",
        "required": ["base_url", "api_key"],
        "properties": {
            "base_url": {"type": "string", "format": "uri"},
            "api_key": {"type": "string", "minLength": 8, "x-secret": True},
        },
        "additionalProperties": False,
    }

    async def company_profile(self, query: results.CompanyQuery) -> results.CompanyProfile:
        async with httpx.AsyncClient(base_url=self.settings["base_url"]) as http:
            try:
                answer = await http.get("/company", params={"uscc": query.uscc})
            except httpx.TransportError as exc:
                raise TransientError(str(exc), delivered=False) from exc
        if answer.status_code >= 500:
            raise TransientError(f"vendor answered {answer.status_code}")
        if answer.status_code >= 400:
            from danbao.plugins import PermanentError

            raise PermanentError(answer.json()["error"])
        body = answer.json()
        return results.CompanyProfile(
            query.uscc, body["name"], "", "0.00", "", body["status"], "", "", ""
        )


class Broken(Plugin):
    id = "test.broken"
    kind = PluginKind.JUDICIAL
    title = Label("坏插件", "Broken")

    async def court_records(self, query: results.CourtQuery) -> results.CourtRecords:
        raise ValueError("a bug in the plug-in")


CLASSES: dict[str, type[Plugin]] = {
    cls.id: cls
    for cls in (SandboxCreditBureau, SandboxRegistry, SandboxMessaging, HttpRegistry, Broken)
}


# --- fixtures -------------------------------------------------------------------------------


@contextmanager
def as_tenant(tenant: TenantFixture) -> Iterator[None]:
    ctx = TenantContext(tenant.id, tenant.slug, Principal("user", "tester", "测试员"))
    with tenant_scope(ctx):
        yield


@pytest.fixture
def services(app: Starlette) -> Services:
    found: Services = app.state.services
    return found


def gateway(services: Services, *, redis: bool = False) -> PluginGateway:
    return PluginGateway(
        services.keys,
        redis_url=REDIS_URL if redis else None,
        lookup=CLASSES.__getitem__,
        backoff_s=0.01,
    )


async def enable(services: Services, plugin: type[Plugin], settings=None, **policy) -> None:  # type: ignore[no-untyped-def]
    async with in_transaction():
        await configure(services.keys, plugin, settings=settings or {}, policy=policy)


async def consent_file() -> str:
    async with in_transaction():
        row = await StoredFile.create(
            key=f"consent/{uuid.uuid4()}.pdf",
            filename="征信查询授权书.pdf",
            content_type="application/pdf",
            size=1,
            sha256="0" * 64,
            created_by="tester",
        )
    return str(row.id)


async def last_call_event() -> AuditEvent:
    async with in_transaction():
        event = await AuditEvent.filter(action="plugin.called").order_by("-seq").first()
    assert event is not None
    return event


# --- tests ------------------------------------------------------------------------------------


async def test_credit_report_needs_consent_on_file(
    services: Services, tenants: dict[str, TenantFixture]
) -> None:
    with as_tenant(tenants["beta"]):
        beta_consent = await consent_file()
    with as_tenant(tenants["alpha"]):
        await enable(services, SandboxCreditBureau)
        gw = gateway(services)
        for consent in (None, str(uuid.uuid4()), beta_consent, "not-a-uuid"):
            with pytest.raises(ConsentRequired):
                await gw.call(
                    "sandbox.credit",
                    "credit_report",
                    PERSON,
                    purpose="review",
                    consent_document_id=consent,
                )
            refused = await last_call_event()
            assert refused.data["outcome"] == "refused"
            assert refused.data["error"] == "consent_required"
        consent = await consent_file()
        outcome = await gw.call(
            "sandbox.credit",
            "credit_report",
            PERSON,
            purpose="review",
            consent_document_id=consent,
            record_id="rec-1",
        )
    assert outcome.data["summary"]["accounts"] >= 1 and not outcome.reused
    with as_tenant(tenants["alpha"]):
        event = await last_call_event()
        async with in_transaction():
            row = await PluginResult.get(id=outcome.result_id)
    assert event.data["outcome"] == "answered"
    assert event.data["consent_document_id"] == consent
    assert event.data["subject"] == "1101**********002X"  # whom, never the whole number
    assert event.actor_id == "tester" and event.data["purpose"] == "review"
    assert is_envelope(row.result) and "张三" not in row.result and row.record_id == "rec-1"


async def test_reports_are_reused_within_the_window_only_for_the_same_subject(
    services: Services, tenants: dict[str, TenantFixture]
) -> None:
    with as_tenant(tenants["alpha"]):
        await enable(services, SandboxCreditBureau, reuse_days=30)
        consent = await consent_file()
        gw = gateway(services)
        first = await gw.call(
            "sandbox.credit", "credit_report", PERSON, purpose="review", consent_document_id=consent
        )
        again = await gw.call(
            "sandbox.credit",
            "credit_report",
            PERSON,
            purpose="post_loan",
            consent_document_id=consent,
        )
        other = results.CreditQuery("person", "李四", id_no="110105194912310037")
        fresh = await gw.call(
            "sandbox.credit", "credit_report", other, purpose="review", consent_document_id=consent
        )
        assert (await last_call_event()).data["outcome"] == "answered"
    assert again.reused and again.result_id == first.result_id and again.data == first.data
    assert not fresh.reused and fresh.result_id != first.result_id
    with as_tenant(tenants["beta"]):
        # Another tenant neither reuses nor reads alpha's answer.
        assert await gateway(services).stored(first.result_id) is None
        await enable(services, SandboxCreditBureau, reuse_days=30)
        beta = await gateway(services).call(
            "sandbox.credit",
            "credit_report",
            PERSON,
            purpose="review",
            consent_document_id=await consent_file(),
        )
    assert not beta.reused


async def test_a_plugin_the_tenant_did_not_enable_is_refused(
    services: Services, tenants: dict[str, TenantFixture]
) -> None:
    with as_tenant(tenants["gamma"]):
        with pytest.raises(NotEnabled):
            await gateway(services).call(
                "sandbox.registry",
                "company_profile",
                results.CompanyQuery("91510100MA61R8KX2L"),
                purpose="review",
            )
        assert (await last_call_event()).data["error"] == "not_enabled"


async def test_transient_failures_are_retried_then_answered(
    services: Services, tenants: dict[str, TenantFixture], vendor: tuple[FakeVendor, str]
) -> None:
    fake, url = vendor
    with as_tenant(tenants["alpha"]):
        await enable(services, HttpRegistry, {"base_url": url, "api_key": "k" * 16}, max_attempts=3)
        fake.fail_next, fake.calls = 2, 0
        outcome = await gateway(services).call(
            "test.http_registry", "company_profile", results.CompanyQuery("x"), purpose="review"
        )
        assert outcome.attempts == 3 and fake.calls == 3
        assert outcome.data["name"] == "成都示例机械有限公司"
        # A vendor "no" is an answer: not retried.
        fake.calls = 0
        from danbao.plugins import PermanentError

        with pytest.raises(PermanentError):
            await gateway(services).call(
                "test.http_registry",
                "company_profile",
                results.CompanyQuery("bad"),
                purpose="review",
            )
        assert fake.calls == 1


async def test_timeouts_count_as_transient_and_fail_cleanly(
    services: Services, tenants: dict[str, TenantFixture], vendor: tuple[FakeVendor, str]
) -> None:
    fake, url = vendor
    with as_tenant(tenants["alpha"]):
        await enable(
            services,
            HttpRegistry,
            {"base_url": url, "api_key": "k" * 16},
            max_attempts=2,
            timeout_s=0.5,
        )
        fake.delay_s, fake.calls = 2.0, 0
        try:
            with pytest.raises(TransientError, match="no answer within"):
                await gateway(services).call(
                    "test.http_registry",
                    "company_profile",
                    results.CompanyQuery("x"),
                    purpose="review",
                )
        finally:
            fake.delay_s = 0
        event = await last_call_event()
    assert fake.calls <= 2  # a loaded machine may time out before the request is read
    assert event.data["outcome"] == "failed" and event.data["attempts"] == 2


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
async def test_the_breaker_opens_after_repeated_failures_and_spares_the_vendor(
    services: Services,
    tenants: dict[str, TenantFixture],
    vendor: tuple[FakeVendor, str],
    shared: bool,
) -> None:
    fake, url = vendor

    async def lookup(through: PluginGateway) -> Outcome:
        query = results.CompanyQuery("x")
        return await through.call("test.http_registry", "company_profile", query, purpose="review")

    with as_tenant(tenants["beta"]):
        await enable(services, HttpRegistry, {"base_url": url, "api_key": "k" * 16}, max_attempts=1)
        gw = gateway(services, redis=shared)
        fake.fail_next, fake.calls = 100, 0
        for _ in range(5):
            with pytest.raises(TransientError):
                await lookup(gw)
        with pytest.raises(CircuitOpen):
            await lookup(gw)
        assert (await last_call_event()).data["error"] == "circuit_open"
        if shared:  # another process reads the open circuit from Redis and spares it too
            other = gateway(services, redis=True)
            try:
                with pytest.raises(CircuitOpen):
                    await lookup(other)
            finally:
                await other.aclose()
        fake.fail_next = 0
        assert fake.calls == 5  # the sixth call never left
    with as_tenant(tenants["gamma"]):
        # One tenant's open circuit is not another's.
        await enable(services, HttpRegistry, {"base_url": url, "api_key": "k" * 16})
        try:
            assert (await lookup(gw)).attempts == 1
        finally:
            await gw.aclose()


async def test_a_plugin_that_raises_is_isolated(
    services: Services, tenants: dict[str, TenantFixture]
) -> None:
    with as_tenant(tenants["alpha"]):
        await enable(services, Broken)
        with pytest.raises(PluginFailed, match="ValueError") as raised:
            await gateway(services).call(
                "test.broken", "court_records", results.CourtQuery("王五"), purpose="review"
            )
        assert not isinstance(raised.value, ValueError)
        assert (await last_call_event()).data["error"] == "plugin_failed"


async def test_non_idempotent_sends_are_not_repeated_after_delivery(
    services: Services, tenants: dict[str, TenantFixture]
) -> None:
    sent: list[int] = []

    class Flaky(SandboxMessaging):
        async def send(self, message: results.Message) -> results.Delivery:
            sent.append(1)
            raise TransientError("connection reset after the request went out")

    CLASSES["sandbox.messaging"] = Flaky
    try:
        with as_tenant(tenants["alpha"]):
            await enable(services, Flaky)
            with pytest.raises(TransientError):
                await gateway(services).call(
                    "sandbox.messaging",
                    "send",
                    results.Message(("u1",), "提醒", "请处理"),
                    purpose="reminder",
                )
    finally:
        CLASSES["sandbox.messaging"] = SandboxMessaging
    assert sent == [1]


async def test_the_rate_limit_is_per_tenant_and_shared_through_redis(
    services: Services, tenants: dict[str, TenantFixture]
) -> None:
    message = results.Message(("u1", "invalid-x"), "提醒", "请处理")
    with as_tenant(tenants["gamma"]):
        await enable(services, SandboxMessaging, rate_per_minute=2)
        # Two gateways over one Redis behave like two processes sharing the budget.
        first, second = gateway(services, redis=True), gateway(services, redis=True)
        delivery = await first.call("sandbox.messaging", "send", message, purpose="notice")
        assert delivery.data["accepted"] == ["u1"] and delivery.data["rejected"] == ["invalid-x"]
        await second.call("sandbox.messaging", "send", message, purpose="notice")
        with pytest.raises(RateLimited):
            await first.call("sandbox.messaging", "send", message, purpose="notice")
    try:
        with as_tenant(tenants["beta"]):
            await enable(services, SandboxMessaging, rate_per_minute=2)
            await first.call("sandbox.messaging", "send", message, purpose="notice")
    finally:
        await first.aclose()
        await second.aclose()


class SecretRegistry(HttpRegistry):
    id = "test.secret_registry"


async def test_settings_are_validated_sealed_and_never_shown_again(
    services: Services, tenants: dict[str, TenantFixture]
) -> None:
    with as_tenant(tenants["beta"]):
        with pytest.raises(SettingsInvalid) as bad:
            await enable(
                services, SecretRegistry, {"base_url": 5, "api_key": "short"}, timeout_s=600
            )
        pointers = {p for p, _ in bad.value.errors}
        assert pointers == {"/settings/base_url", "/settings/api_key", "/policy/timeout_s"}
        async with in_transaction():
            assert not await PluginSetting.filter(plugin_id=SecretRegistry.id).exists()

        await enable(
            services, SecretRegistry, {"base_url": "http://v.test", "api_key": "s3cret-key!"}
        )
        async with in_transaction():
            row = await PluginSetting.get(plugin_id=SecretRegistry.id)
            event = await AuditEvent.filter(action="plugin.configured").order_by("-seq").first()
        assert is_envelope(row.settings["api_key"]) and "s3cret" not in str(row.settings)
        view = public_view(SecretRegistry, row)
        assert view["settings"] == {"base_url": "http://v.test", "api_key": {"set": True}}
        assert event is not None and event.data["changed"] == ["api_key", "base_url"]
        assert "s3cret" not in str(event.data)

        # An empty secret keeps the stored one; the other settings change.
        await enable(services, SecretRegistry, {"base_url": "http://w.test", "api_key": ""})
        async with in_transaction():
            again = await PluginSetting.get(plugin_id=SecretRegistry.id)
            event = await AuditEvent.filter(action="plugin.configured").order_by("-seq").first()
        assert again.settings["api_key"] == row.settings["api_key"]
        assert again.settings["base_url"] == "http://w.test"
        assert event is not None and event.data["changed"] == ["base_url"]


async def test_settings_are_opened_once_per_process_and_forgotten_when_they_change(
    services: Services, tenants: dict[str, TenantFixture], vendor: tuple[FakeVendor, str]
) -> None:
    _, url = vendor
    secret = "k" * 16
    query = results.CompanyQuery("x")
    with as_tenant(tenants["gamma"]):
        await enable(services, SecretRegistry, {"base_url": url, "api_key": secret})
        assert tenant_config.cached(SecretRegistry) is None  # configuring forgets
        gw = gateway(services)
        CLASSES[SecretRegistry.id] = SecretRegistry
        try:
            await gw.call(SecretRegistry.id, "company_profile", query, purpose="review")
            kept = tenant_config.cached(SecretRegistry)
            assert kept is not None and kept.settings["api_key"] == secret
            # Opened secrets never show in a representation (a log line, a traceback).
            assert secret not in repr(kept) and secret not in repr(tenant_config.CACHE)

            # Disabled here: forgotten at once, so the very next call is refused.
            async with in_transaction():
                await configure(
                    services.keys, SecretRegistry, settings={"base_url": url}, enabled=False
                )
            assert tenant_config.cached(SecretRegistry) is None
            with pytest.raises(NotEnabled):
                await gw.call(SecretRegistry.id, "company_profile", query, purpose="review")

            # Changed by another process: its announcement drops them here.
            await enable(services, SecretRegistry, {"base_url": url, "api_key": ""})
            await gw.call(SecretRegistry.id, "company_profile", query, purpose="review")
            assert tenant_config.cached(SecretRegistry) is not None
            assert services.redis is not None
            await announce(services.redis, str(tenants["gamma"].id))
            for _ in range(200):
                if tenant_config.cached(SecretRegistry) is None:
                    break
                await asyncio.sleep(0.01)
            assert tenant_config.cached(SecretRegistry) is None
        finally:
            del CLASSES[SecretRegistry.id]


def test_a_load_that_began_before_a_change_is_not_kept() -> None:
    cache: SettingsCache[str] = SettingsCache(maxsize=2)
    began = cache.generation
    cache.forget("t1", "p")  # a change committed while the old row was being read
    cache.put("t1", "p", "old", began)
    assert cache.get("t1", "p") is None
    cache.put("t1", "p", "new", cache.generation)
    cache.put("t2", "p", "other", cache.generation)
    assert cache.get("t1", "p") == "new"
    assert cache.drop_tenant("t1") == 1 and cache.get("t1", "p") is None
    assert cache.get("t2", "p") == "other"
    cache.put("t3", "p", "x", cache.generation)
    cache.put("t4", "p", "y", cache.generation)
    assert cache.get("t2", "p") is None  # bounded: the least recently used went
