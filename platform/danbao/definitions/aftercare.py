"""The ``aftercare`` section of tenant.json (post-loan task rules, early-warning settings;
docs/lifecycle.md): what the meta-schema cannot say — each rule's id is unique."""

from __future__ import annotations

from typing import Any

from .errors import DefinitionError, pointer


def aftercare_errors(tenant: dict[str, Any]) -> list[DefinitionError]:
    rules = (tenant.get("aftercare") or {}).get("tasks") or []
    errors, seen = [], set()
    for index, rule in enumerate(rules):
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        if rule_id in seen:
            errors.append(
                DefinitionError(
                    "tenant.json",
                    pointer("aftercare", "tasks", index, "id"),
                    f"a second post-loan task rule {rule_id!r}",
                )
            )
        seen.add(rule_id)
    return errors
