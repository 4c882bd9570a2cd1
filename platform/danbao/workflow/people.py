"""Who may act: a snapshot of the tenant's people, and the assignee rules resolved on it.

The snapshot is plain data (loaded by the store from ``app_user`` and the pinned
bundle's departments), so resolution stays pure and every chosen person comes with the
reason they were chosen, which the history keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .plan import AssigneeRule


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    name: str
    roles: frozenset[str]
    department: str | None


@dataclass(frozen=True)
class Department:
    id: str
    parent: str | None
    head_role: str | None


@dataclass(frozen=True)
class Chosen:
    """One person picked by a rule, and why (kept in the history)."""

    user: str
    why: str


@dataclass(frozen=True)
class People:
    """The tenant's active people and departments at one moment."""

    persons: Mapping[str, Person]
    departments: Mapping[str, Department] = field(default_factory=dict)
    proxies: Mapping[str, str] = field(default_factory=dict)
    """user id -> the active proxy (代理) who receives their new tasks at this moment."""

    @classmethod
    def build(
        cls,
        persons: Iterable[Person],
        departments: Iterable[Mapping[str, Any]] = (),
        proxies: Mapping[str, str] | None = None,
    ) -> People:
        return cls(
            {p.id: p for p in persons},
            {
                d["id"]: Department(d["id"], d.get("parent"), d.get("head_role"))
                for d in departments
            },
            dict(proxies or {}),
        )

    def by_key(self, key: str) -> Person | None:
        """A person by id or e-mail (form fields and definitions name people by e-mail)."""
        if key in self.persons:
            return self.persons[key]
        return self._by_email.get(key.strip().lower())

    def with_role(self, role: str) -> list[Person]:
        """The holders of a role, by e-mail."""
        return list(self._by_role.get(role, ()))

    # Indexes made on first use (a snapshot is immutable): resolution and the check of a
    # submitter's choices asked for them once per node, each a scan of every person.
    @cached_property
    def _by_email(self) -> dict[str, Person]:
        index: dict[str, Person] = {}
        for person in self.persons.values():
            index.setdefault(person.email.lower(), person)  # the first one, as a scan finds
        return index

    @cached_property
    def _by_role(self) -> dict[str, list[Person]]:
        index: dict[str, list[Person]] = {}
        for person in self.persons.values():
            for role in person.roles:
                index.setdefault(role, []).append(person)
        for holders in index.values():
            holders.sort(key=lambda p: p.email)  # stable: ties keep the snapshot's order
        return index

    def heads_of(self, department: str) -> list[Person]:
        dept = self.departments.get(department)
        if dept is None or dept.head_role is None:
            return []
        return [p for p in self.with_role(dept.head_role) if p.department == department]

    def ancestors(self, department: str | None) -> list[str]:
        """The department and those above it, nearest first (stops on a cycle)."""
        chain: list[str] = []
        while department is not None and department not in chain:
            chain.append(department)
            parent = self.departments.get(department)
            department = parent.parent if parent else None
        return chain

    def superiors(self, user: str) -> list[Chosen]:
        """The head of the person's department, or of the next one up when they head it."""
        person = self.persons.get(user)
        if person is None:
            return []
        for dept in self.ancestors(person.department):
            heads = [h for h in self.heads_of(dept) if h.id != user]
            if heads:
                return [Chosen(h.id, f"head of {dept}, superior of the submitter") for h in heads]
        return []


def resolve(
    rule: AssigneeRule,
    people: People,
    *,
    submitter: str,
    data: Mapping[str, Any],
    chosen: Sequence[str] = (),
) -> list[Chosen]:
    """The people one rule names, in a stable order, each with the reason."""
    submitter_dept = people.persons[submitter].department if submitter in people.persons else None
    match rule.kind:
        case "user":
            person = people.by_key(rule.value or "")
            return [Chosen(person.id, f"named user {person.email}")] if person else []
        case "role":
            return [Chosen(p.id, f"role {rule.value}") for p in people.with_role(rule.value or "")]
        case "department_head":
            start = rule.department or submitter_dept
            chain = people.ancestors(start)
            if len(chain) < rule.level:
                return []
            dept = chain[rule.level - 1]
            where = "the submitter's department" if rule.department is None else "department"
            return [
                Chosen(p.id, f"head of {dept} ({where}, level {rule.level})")
                for p in people.heads_of(dept)
            ]
        case "manager_chain":
            return _manager_chain(rule, people, submitter, submitter_dept)
        case "form_user":
            return _form_users(rule.field or "", data, people)
        case "submitter_choice":
            return [Chosen(user, "chosen by the submitter") for user in chosen]
        case "submitter":
            return [Chosen(submitter, "the submitter")] if submitter in people.persons else []
    return []


def resolve_ids(
    rule: AssigneeRule, people: People, *, submitter: str, data: Mapping[str, Any]
) -> set[str]:
    """Who ``resolve`` names, without the reasons: checking a submitter's choices needs only
    who, and a role's holders (the common candidates) then cost no reason each."""
    if rule.kind == "role":
        return {p.id for p in people.with_role(rule.value or "")}
    return {c.user for c in resolve(rule, people, submitter=submitter, data=data)}


def _manager_chain(
    rule: AssigneeRule, people: People, submitter: str, department: str | None
) -> list[Chosen]:
    """Heads of the submitter's department and upward, one level per department that has a
    head (the submitter themselves skipped), up to a level or to the first holder of a role."""
    found: list[Chosen] = []
    level = 0
    for dept in people.ancestors(department):
        heads = [h for h in people.heads_of(dept) if h.id != submitter]
        if not heads:
            continue
        level += 1
        found += [Chosen(h.id, f"manager level {level} (head of {dept})") for h in heads]
        if rule.up_to_level is not None and level >= rule.up_to_level:
            break
        if rule.up_to_role is not None and any(rule.up_to_role in h.roles for h in heads):
            break
    return found


def _form_users(name: str, data: Mapping[str, Any], people: People) -> list[Chosen]:
    value = data.get(name)
    keys = value if isinstance(value, list) else [value]
    found = []
    for key in keys:
        person = people.by_key(key) if isinstance(key, str) else None
        if person is not None:
            found.append(Chosen(person.id, f"named in form field {name}"))
    return found


def named_in_fields(
    names: Iterable[str], data: Mapping[str, Any], people: People
) -> dict[str, str]:
    """user id -> the field naming them, for recusal of related parties."""
    out: dict[str, str] = {}
    for name in names:
        for chosen in _form_users(name, data, people):
            out.setdefault(chosen.user, name)
    return out
