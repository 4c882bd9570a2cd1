"""One form of a bundle, seen the way the records runtime needs it."""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from danbao.definitions import Bundle
from danbao.definitions.bundle import canonical_json
from danbao.definitions.layout import Kind, kind_of, path_for, stem
from danbao.forms.dictionaries import EMPTY, Lookups, lookups_of
from danbao.records.logic import FormLogic

DEFAULT_NUMBERING = "project"


class FormNotFound(LookupError):
    """The bundle has no form of that id."""


@dataclass(frozen=True, eq=False)
class FormDefinition:
    """A form's JSON content (already validated when its bundle was published), with the
    dictionaries and departments of the same version: what its coded fields are checked
    against, so a record is judged by the version it is pinned to."""

    form_id: str
    content: dict[str, Any]
    lookups: Lookups = EMPTY

    @classmethod
    def from_bundle(cls, bundle: Bundle, form_id: str) -> FormDefinition:
        """The form of a bundle: one object per (bundle, form), so what it derives (field
        order, the schema's key to its compiled validators, the dictionaries its coded
        fields are checked against) is worked out once per published version rather than
        on every request."""
        forms = _OF_BUNDLE.get(id(bundle))
        if forms is None:
            forms = _OF_BUNDLE[id(bundle)] = {}
            weakref.finalize(bundle, _OF_BUNDLE.pop, id(bundle), None)
        found = forms.get(form_id)
        if found is None:
            form = bundle.forms.get(form_id)
            if form is None:
                raise FormNotFound(form_id)
            lookups = lookups_of(bundle.dictionaries, bundle.permissions.get("departments", []))
            found = forms[form_id] = cls(form_id, form, lookups)
        return found

    @classmethod
    def from_files(cls, files: dict[str, Any], form_id: str) -> FormDefinition:
        """From a stored version's file map, without validating it again."""
        form = files.get(path_for(Kind.FORM, form_id))
        if not isinstance(form, dict):
            raise FormNotFound(form_id)
        dictionaries = {
            stem(path): content
            for path, content in files.items()
            if kind_of(path) is Kind.DICTIONARY
        }
        departments = (files.get("permissions.json") or {}).get("departments", [])
        return cls(form_id, form, _stored_lookups(canonical_json([dictionaries, departments])))

    @property
    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.content["schema"]
        return schema

    @property
    def properties(self) -> dict[str, Any]:
        properties: dict[str, Any] = self.schema.get("properties", {})
        return properties

    @cached_property
    def schema_json(self) -> bytes:
        """The schema as canonical JSON: the key its compiled validators are cached under."""
        return canonical_json(self.schema)

    @cached_property
    def sensitive_fields(self) -> frozenset[str]:
        """Fields marked ``x-sensitive``: their values never reach the audit trail."""
        return frozenset(k for k, p in self.properties.items() if p.get("x-sensitive") is True)

    @cached_property
    def sensitive_rows(self) -> dict[str, frozenset[str]]:
        """Repeating sections with ``x-sensitive`` row fields: array field -> row field keys."""
        found: dict[str, frozenset[str]] = {}
        for key, prop in self.properties.items():
            items = prop.get("items") if prop.get("type") == "array" else None
            if isinstance(items, dict):
                subs = frozenset(
                    sub
                    for sub, p in items.get("properties", {}).items()
                    if isinstance(p, dict) and p.get("x-sensitive") is True
                )
                if subs:
                    found[key] = subs
        return found

    @cached_property
    def sensitive_paths(self) -> frozenset[str]:
        """Every sensitive field by name: ``legal_rep_id_number``, ``shareholders.id_number``
        (a row field is named ``<array field>.<row field>`` in field rules, search and reveal)."""
        rows = {f"{key}.{sub}" for key, subs in self.sensitive_rows.items() for sub in subs}
        return self.sensitive_fields | frozenset(rows)

    def row_property(self, path: str) -> dict[str, Any] | None:
        """The schema of ``<array field>.<row field>``, or None."""
        key, _, sub = path.partition(".")
        items = self.properties.get(key, {}).get("items")
        prop = items.get("properties", {}).get(sub) if isinstance(items, dict) else None
        return prop if isinstance(prop, dict) else None

    @cached_property
    def logic(self) -> FormLogic:
        """Conditions and computed fields (records.logic), compiled once per definition."""
        return FormLogic.from_content(self.content)

    @cached_property
    def field_order(self) -> tuple[str, ...]:
        """Field keys in the order the form shows them.

        The layout's lists, not the schema's ``properties``: definitions are stored as
        JSONB, which does not keep the order of an object's keys.
        """
        shown = [
            f for section in self.content.get("ui", {}).get("layout", []) for f in section["fields"]
        ]
        ordered = list(dict.fromkeys(f for f in shown if f in self.properties))
        return tuple(ordered + sorted(set(self.properties) - set(ordered)))

    @cached_property
    def search_field(self) -> str | None:
        """The first plain (not sensitive) string field of the form, which ``q`` searches."""
        for key in self.field_order:
            prop = self.properties[key]
            if prop.get("type") == "string" and not prop.get("x-sensitive"):
                return key
        return None

    @property
    def numbering_key(self) -> str:
        """Which ``tenant.json`` numbering rule numbers this form's records."""
        key = self.content.get("x-numbering")
        return key if isinstance(key, str) and key else DEFAULT_NUMBERING

    def label(self, field: str, locale: str, key: str | None = None) -> str:
        """The field's label in ``locale``: the UI label, else the schema title, else the key.

        With ``key``, the label of that field of the rows of the repeating section ``field``.
        """
        ui = self.content.get("ui", {}).get("fields", {}).get(field, {})
        prop = self.properties.get(field, {})
        if key is not None:
            ui = ui.get("items", {}).get(key, {})
            prop = (prop.get("items") or {}).get("properties", {}).get(key, {})
            field = key
        ui_label = ui.get("label", {})
        title = prop.get("title")
        text = ui_label.get(locale) or ui_label.get("zh-CN") or title or field
        return str(text)


# Bundle id -> its forms. Bundles are immutable and cached (``ActiveBundles``); their forms
# live exactly as long as they do (a finalizer drops the entry before the id can be reused).
# Keyed by identity: hashing a bundle would serialise it, as an editor's preview would pay.
_OF_BUNDLE: dict[int, dict[str, FormDefinition]] = {}


@lru_cache(maxsize=64)
def _stored_lookups(raw: bytes) -> Lookups:
    dictionaries, departments = json.loads(raw)
    return lookups_of(dictionaries, departments)
