"""Checks on a document template (``templates/*.html``) against what it will be given.

A template renders in Jinja2's sandbox (``danbao.documents.render``) with four names:
``data`` (the form's values), ``display`` (the same fields as shown: a choice's title,
not its code), ``project``/``guarantor``/``document`` (fixed attributes, below). A name,
field, attribute or filter the template uses but will never be given would render as
empty text in a signed contract, so each is a definition error at publish time, with
the template's file and line. Nothing here imports the renderer: the filter names are
declared once below, and a test holds the renderer to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import DefinitionError

FORM_NAMES = frozenset({"data", "display"})
"""Names whose attributes are the form's field keys."""

ATTRIBUTES: dict[str, frozenset[str]] = {
    "project": frozenset({"number", "state", "state_name", "created_on"}),
    "guarantor": frozenset({"name", "name_en", "short_name"}),
    "document": frozenset(
        {"kind", "title", "number", "issued_on", "verify_url", "qr_svg", "template_version"}
    ),
}
"""The other names a template may read, and their attributes (docs/documents.md)."""

FILTERS = frozenset({"yuan", "wan", "capitals", "cn_date", "cn_date_upper", "mask"})
"""Our filters (besides Jinja2's own): money, capitals, Chinese dates, masking."""

_FORBIDDEN = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def checking_environment() -> ImmutableSandboxedEnvironment:
    """The sandbox the renderer uses, with our filters present by name only."""
    env = ImmutableSandboxedEnvironment(autoescape=True)
    for name in FILTERS:
        env.filters[name] = _placeholder
    return env


def _placeholder(value: Any, *args: Any) -> Any:
    return value


@dataclass(frozen=True)
class FormShape:
    """The fields a template may read through ``data``/``display``, and the rows' fields."""

    form_id: str
    fields: frozenset[str]
    rows: dict[str, frozenset[str]]

    @classmethod
    def of(cls, form: dict[str, Any]) -> FormShape:
        props = form["schema"].get("properties", {})
        rows = {}
        for name, sub in props.items():
            items = sub.get("items") if isinstance(sub, dict) else None
            if isinstance(items, dict) and isinstance(items.get("properties"), dict):
                rows[name] = frozenset(items["properties"])
        return cls(form["id"], frozenset(props), rows)


def fields_used(text: str, shape: FormShape) -> frozenset[str]:
    """The form fields a (valid) template prints: ``amount``, and row fields as
    ``counter_guarantees.owner``; what a reader must be allowed to see to read its output."""
    walker = _Walker("", checking_environment(), shape)
    list(walker.walk(walker.env.parse(text)))
    return frozenset(walker.used)


def check_template(file: str, text: str, shape: FormShape | None) -> list[DefinitionError]:
    """Every fault of one template; ``shape`` None when its form is missing or invalid
    (reported elsewhere), so only syntax, names and filters are checked."""
    env = checking_environment()
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        return [_at(file, exc.lineno, f"template syntax: {exc.message}")]
    return list(_Walker(file, env, shape).walk(tree))


def _at(file: str, line: int | None, message: str) -> DefinitionError:
    # A template is text, not JSON: the place is its line, kept in the message and
    # read back by the editor (``editing.py``).
    return DefinitionError(file, "", f"line {line}: {message}" if line else message)


class _Walker:
    def __init__(self, file: str, env: ImmutableSandboxedEnvironment, shape: FormShape | None):
        self.file = file
        self.env = env
        self.shape = shape
        self.used: set[str] = set()

    def walk(self, tree: nodes.Template) -> Iterator[DefinitionError]:
        yield from self._visit(tree, bound=frozenset(), rows={})

    def _visit(
        self, node: nodes.Node, bound: frozenset[str], rows: dict[str, str]
    ) -> Iterator[DefinitionError]:
        """``bound``: names the template set itself (loops, ``set``, macros); ``rows``:
        loop names bound to a repeating section's rows -> that section's field key."""
        if isinstance(node, _FORBIDDEN):
            yield _at(self.file, node.lineno, "templates cannot extend, include or import files")
            return
        if isinstance(node, nodes.For):
            yield from self._visit(node.iter, bound, rows)
            names = _names(node.target)
            inner_rows = dict(rows)
            section = self._section(node.iter)
            for name in names:
                inner_rows.pop(name, None)
                if section is not None and isinstance(node.target, nodes.Name):
                    inner_rows[name] = section
            inner = bound | names | {"loop"}
            for child in [*node.body, *([node.test] if node.test else [])]:
                yield from self._visit(child, inner, inner_rows)
            for child in node.else_:
                yield from self._visit(child, bound, rows)
            return
        if isinstance(node, nodes.With):
            # ``{% with a = data.x %}``: the values read the outer names, the body sees a.
            for value in node.values:
                yield from self._visit(value, bound, rows)
            names = frozenset(n for target in node.targets for n in _names(target))
            for child in node.body:
                yield from self._visit(child, bound | names, rows)
            return
        if isinstance(node, nodes.Macro | nodes.CallBlock):
            args = frozenset(a.name for a in node.args) | {"caller", "varargs", "kwargs"}
            if isinstance(node, nodes.Macro):
                bound = bound | {node.name}
            for child in node.iter_child_nodes():
                yield from self._visit(child, bound | args, rows)
            return
        if isinstance(node, nodes.Filter | nodes.Test):
            table = self.env.filters if isinstance(node, nodes.Filter) else self.env.tests
            if node.name not in table:
                what = "filter" if isinstance(node, nodes.Filter) else "test"
                yield _at(self.file, node.lineno, f"unknown {what} {node.name!r}")
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            problem = self._member_problem(node, rows)
            if problem:
                yield _at(self.file, node.lineno, problem)
        if (
            isinstance(node, nodes.Name)
            and node.ctx == "load"
            and node.name not in bound | FORM_NAMES | set(ATTRIBUTES) | set(self.env.globals)
        ):
            known = ", ".join(sorted(FORM_NAMES | set(ATTRIBUTES)))
            yield _at(self.file, node.lineno, f"unknown name {node.name!r}; known: {known}")
        for child in node.iter_child_nodes():
            yield from self._visit(child, bound | _assigned(node), rows)

    def _section(self, iterable: nodes.Node) -> str | None:
        key = _member_key(iterable)
        if key is None or self.shape is None:
            return None
        base, field = key
        return field if base in FORM_NAMES and field in self.shape.rows else None

    def _member_problem(self, node: nodes.Getattr | nodes.Getitem, rows: dict[str, str]) -> str:
        key = _member_key(node)
        if key is None:
            return ""
        base, name = key
        if base in FORM_NAMES and self.shape is not None:
            self.used.add(name)
            if name not in self.shape.fields:
                return f"{base}.{name}: {name!r} is not a field of form {self.shape.form_id!r}"
        elif base in ATTRIBUTES:
            if name not in ATTRIBUTES[base]:
                known = ", ".join(sorted(ATTRIBUTES[base]))
                return f"{base}.{name}: {base} has no {name!r}; known: {known}"
        elif base in rows and self.shape is not None:
            section = rows[base]
            self.used.add(f"{section}.{name}")
            if name not in self.shape.rows[section]:
                return f"{base}.{name}: {name!r} is not a field of the rows of {section!r}"
        return ""


def _member_key(node: nodes.Node) -> tuple[str, str] | None:
    """``data.amount`` / ``data['amount']`` -> ("data", "amount"); anything else None."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.node.name, node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.node.name, node.arg.value
    return None


def _assigned(node: nodes.Node) -> frozenset[str]:
    """Names ``{% set %}`` and ``{% macro %}`` bind anywhere, taken as bound everywhere
    (looser than Jinja2's scoping, never stricter: a check must not refuse a template that
    renders)."""
    if isinstance(node, nodes.Template | nodes.Scope):
        sets = frozenset(
            name
            for assign in node.find_all((nodes.Assign, nodes.AssignBlock))
            if isinstance(assign, nodes.Assign | nodes.AssignBlock)
            for name in _names(assign.target)
        )
        macros = frozenset(m.name for m in node.find_all(nodes.Macro) if isinstance(m, nodes.Macro))
        return sets | macros
    return frozenset()


def _names(target: nodes.Node) -> frozenset[str]:
    """The names a ``for`` or ``set`` target binds (``x``, or ``k, v``)."""
    found = [target] if isinstance(target, nodes.Name) else list(target.find_all(nodes.Name))
    return frozenset(n.name for n in found if isinstance(n, nodes.Name))
