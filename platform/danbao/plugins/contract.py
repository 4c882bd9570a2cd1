"""The contract tests a plug-in must pass, for its author to run in their own suite.

    from danbao.plugins.contract import PluginContract

    class TestMyRegistry(PluginContract):
        plugin = MyRegistry
        settings = {"base_url": "http://127.0.0.1:8081", "api_key": "test-key-123"}
        samples = {"company_profile": [results.CompanyQuery("91510100MA61R8KX2F")]}

pytest (with pytest-asyncio in auto mode) collects the inherited tests: the plug-in
declares itself completely, its settings schema is a valid JSON Schema that accepts the
given settings, its health check answers a :class:`~danbao.plugins.results.Health`,
every operation of its kind is implemented and answers the kind's normalised type for
each sample, the answer survives a JSON round trip (it is stored as JSON), and a
``failing`` sample raises one of the SDK's errors, never a stray exception.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from jsonschema import Draft202012Validator

from . import catalog
from .errors import PluginError
from .results import Health, to_json
from .sdk import OPERATIONS, Label, Plugin, PluginKind, Recipient


class PluginContract:
    plugin: ClassVar[type[Plugin]]
    settings: ClassVar[dict[str, Any]] = {}
    # operation -> requests that must be answered
    samples: ClassVar[dict[str, list[Any]]] = {}
    # operation -> requests that must fail with a PluginError (e.g. an unknown subject)
    failing: ClassVar[dict[str, list[Any]]] = {}

    def make(self) -> Plugin:
        return self.plugin(self.settings)

    def test_declares_itself(self) -> None:
        cls = catalog.check_class(self.plugin)
        assert isinstance(cls.id, str) and cls.id, "id must be a non-empty string"
        assert isinstance(cls.kind, PluginKind)
        assert isinstance(cls.title, Label) and cls.title.zh and cls.title.en
        assert cls.timeout_s > 0 and cls.rate_per_minute > 0 and 1 <= cls.max_attempts <= 5
        if cls.kind is PluginKind.MESSAGING:
            assert isinstance(cls.recipient, Recipient), "recipient: a danbao.plugins.Recipient"

    def test_settings_schema_is_valid_and_accepts_the_settings(self) -> None:
        schema = dict(self.plugin.settings_schema)
        Draft202012Validator.check_schema(schema)
        assert schema.get("type") == "object", "settings are a JSON object"
        problems = [e.message for e in Draft202012Validator(schema).iter_errors(self.settings)]
        assert not problems, problems
        for name in self.plugin.secret_fields():
            assert schema["properties"][name].get("type") == "string", f"secret {name}: string"

    async def test_health_answers(self) -> None:
        instance = self.make()
        try:
            health = await instance.health()
        finally:
            await instance.aclose()
        assert isinstance(health, Health)

    def test_every_operation_has_a_sample(self) -> None:
        missing = set(self.plugin.operations()) - set(self.samples)
        assert not missing, f"give samples for {sorted(missing)}"

    async def test_operations_answer_normalised_results(self) -> None:
        instance = self.make()
        try:
            for name, requests in self.samples.items():
                op = OPERATIONS[self.plugin.kind][name]
                for request in requests:
                    answer = await getattr(instance, name)(request)
                    assert isinstance(answer, op.result), f"{name} answered {type(answer)}"
                    data = to_json(answer)
                    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
        finally:
            await instance.aclose()

    async def test_failures_are_sdk_errors(self) -> None:
        instance = self.make()
        try:
            for name, requests in self.failing.items():
                for request in requests:
                    try:
                        await getattr(instance, name)(request)
                    except PluginError:
                        continue
                    except Exception as exc:  # the contract: only SDK errors escape
                        raise AssertionError(f"{name} raised {type(exc).__name__}") from exc
                    raise AssertionError(f"{name}({request!r}) should have failed")
        finally:
            await instance.aclose()
