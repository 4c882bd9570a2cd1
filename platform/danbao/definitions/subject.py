"""A form's ``x-subject``: which fields name the party that checks are run about.

    "x-subject": {"name": "applicant_name", "uscc": "uscc",
                  "person_name": "legal_rep_name", "person_id": "legal_rep_id_number"}

Due-diligence checks (registry, court records, credit) read the applicant from these
fields; every role is optional, but each named field must exist and hold text.
"""

from __future__ import annotations

from typing import Any

from .errors import DefinitionError
from .formschema import field_types

ROLES = ("name", "uscc", "person_name", "person_id")


def subject_errors(file: str, form: dict[str, Any]) -> list[DefinitionError]:
    mapping = form.get("x-subject")
    if mapping is None:
        return []
    if not isinstance(mapping, dict):
        return [DefinitionError(file, "/x-subject", "must be an object of role -> field key")]
    types = field_types(form["schema"])
    errors = []
    for role, field in mapping.items():
        where = f"/x-subject/{role}"
        if role not in ROLES:
            errors.append(DefinitionError(file, where, f"unknown role; use one of {ROLES}"))
        elif field not in types:
            errors.append(DefinitionError(file, where, f"no field {field!r} in this form"))
        elif types[field] and "string" not in types[field]:
            errors.append(DefinitionError(file, where, f"field {field!r} does not hold text"))
    return errors
