"""The ``portal`` section of tenant.json: the application form applicants fill in through
the customer portal, and the fields of it they may not change or see (docs/portal.md).

```json
"portal": {"form": "application",
           "fields": {"account_manager": "hidden", "fee_rate_pct": "readonly"}}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import DefinitionError, pointer


def portal_errors(
    tenant: Mapping[str, Any], forms: Mapping[str, Mapping[str, Any] | None]
) -> list[DefinitionError]:
    """The form exists, and every field named exists in it (a row field as
    ``section.field``). A form without a project mapping is allowed: its applications are
    submitted but become no project until the mapping names it."""
    section = tenant.get("portal")
    if not isinstance(section, Mapping):
        return []
    form_id = section["form"]
    if form_id not in forms:
        return [DefinitionError("tenant.json", "/portal/form", f"no form {form_id!r} in forms/")]
    errors: list[DefinitionError] = []
    form = forms[form_id]
    if form is None:
        return errors  # present but invalid: reported on the form itself
    properties = form["schema"].get("properties", {})
    for name in section.get("fields", {}):
        top, _, sub = name.partition(".")
        prop = properties.get(top)
        rows = (prop or {}).get("items", {}).get("properties", {}) if sub else None
        if prop is None or (sub and sub not in (rows or {})):
            errors.append(
                DefinitionError(
                    "tenant.json",
                    pointer("portal", "fields", name),
                    f"form {form_id!r} has no field {name!r}",
                )
            )
    return errors
