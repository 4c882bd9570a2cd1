"""Cycle finding for the id graphs in a bundle: role inheritance, departments, workflow nodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every distinct cycle, each as ``[a, b, ..., a]``; edges to unknown ids are ignored."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for root in edges:
        if root in state:
            continue
        path: list[str] = [root]
        state[root] = 1
        # Iterative depth-first search: a tenant could author a chain deep enough to
        # exhaust Python's recursion limit.
        stack = [iter(list(edges[root]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif nxt not in edges or state.get(nxt) == 2:
                continue
            elif state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle)
            else:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(list(edges[nxt])))
    return cycles


def reachable(start: str, edges: Mapping[str, Iterable[str]]) -> set[str]:
    found = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt in edges and nxt not in found:
                found.add(nxt)
                todo.append(nxt)
    return found
