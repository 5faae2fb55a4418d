"""Building the decision tree: recipes bucketed by event kind and one exact-valued field.

Per mechanism, recipes are bucketed under one necessary (field, value) condition taken from
their IR (or a directory prefix of file.file); an event looks up only the buckets its own
values select, plus the few recipes with no index key. runtime/tree.py evaluates it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

from ..bundle import INDEX_FIELDS, TreeData
from ..core.fields import FIELDS
from ..core.ir import EQUALITY, And, Atom, AtomKey, Const, IRRecipe, Node, Or, as_values
from ..core.ops import Op
from ..core.regexcheck import literal_prefix
from ..core.vocab import MECHANISMS

Need = frozenset[tuple[str, Any]]


def _atom_need(key: AtomKey) -> Need | None:
    f, op, v = key
    if f in INDEX_FIELDS and op in EQUALITY and not FIELDS[f].type.is_list:
        return frozenset((f, x) for x in as_values(v))
    if f == "flow.remote.names" and op in (Op.EQ, Op.IN, Op.CONTAINS):
        return frozenset(("flow.names", x) for x in as_values(v))
    if f == "flow.remote.names" and op is Op.ENDSWITH and isinstance(v, str) and v.startswith("."):
        return frozenset({("flow.names", v[1:])})
    if f == "file.file" and op in (Op.STARTSWITH, Op.REGEX) and isinstance(v, str):
        pre = v if op is Op.STARTSWITH else literal_prefix(v, anchored=False)
        if "/" in pre:
            return frozenset({("file.prefix", pre[: pre.rfind("/") + 1])})
    return None


def index_need(n: Node, atoms: list[AtomKey]) -> Need | None:
    """(field, value) pairs of which every matching event satisfies at least one, or None.

    An `or` of alternatives keyed on different fields is still indexed: the recipe goes into
    each alternative's bucket, and an event looks up all of its own values anyway.
    """
    match n:
        case Const():
            return None
        case Atom(i, negated):
            return None if negated else _atom_need(atoms[i])
        case And(kids):
            found = [x for x in (index_need(k, atoms) for k in kids) if x is not None]
            return min(found, key=_cost) if found else None
        case Or(kids):
            needs = [index_need(k, atoms) for k in kids]
            if needs and all(x is not None for x in needs):
                return frozenset().union(*(x for x in needs if x is not None))
            return None
        case _:
            assert_never(n)


def _cost(need: Need) -> tuple[int, int]:
    """Prefer the most selective fields, then the fewest buckets."""
    return max(INDEX_FIELDS.index(f) for f, _ in need), len(need)


def describe(need: Need) -> str:
    fields = sorted({f for f, _ in need}, key=INDEX_FIELDS.index)
    vals = sorted({str(v) for _, v in need})
    more = f" (+{len(vals) - 8} more)" if len(vals) > 8 else ""
    return f"{' / '.join(fields)} in [{', '.join(vals[:8])}]{more}"


AtomKinds = Callable[[AtomKey], "frozenset[str] | None"]


def kinds_of(n: Node, atoms: list[AtomKey], atom_kinds: AtomKinds) -> frozenset[str]:
    """The event kinds in which `n` can hold, given the kinds of each positive atom
    (None: every kind). Shared by the tree (event.mechanism atoms) and JR073 (field kinds)."""
    every = frozenset(MECHANISMS)
    match n:
        case Const(value):
            return every if value else frozenset()
        case Atom(i, negated):
            ks = None if negated else atom_kinds(atoms[i])
            return every if ks is None else ks
        case And(kids):
            out = every
            for k in kids:
                out &= kinds_of(k, atoms, atom_kinds)
            return out
        case Or(kids):
            return frozenset().union(*(kinds_of(k, atoms, atom_kinds) for k in kids))
        case _:
            assert_never(n)


def mechanism_gate(key: AtomKey) -> frozenset[str] | None:
    """The kinds an `event.mechanism == / in` atom allows (None for any other atom)."""
    f, op, v = key
    if f == "event.mechanism" and op in EQUALITY:
        return frozenset(str(x) for x in as_values(v)) & frozenset(MECHANISMS)
    return None


def mechanisms_of(n: Node, atoms: list[AtomKey]) -> frozenset[str]:
    """The event kinds a condition can match (from its `event.mechanism` atoms)."""
    return kinds_of(n, atoms, mechanism_gate)


def build_tree(recipes: list[IRRecipe], atoms: list[AtomKey]) -> TreeData:
    index: dict[str, dict[str, dict[str, list[int]]]] = {m: {} for m in MECHANISMS}
    rest: dict[str, list[int]] = {m: [] for m in MECHANISMS}
    for r in recipes:
        need = index_need(r.cond, atoms)
        for m in sorted(mechanisms_of(r.cond, atoms)):
            if need is None:
                rest[m].append(r.index)
                continue
            for f, v in sorted(need, key=lambda x: (x[0], str(x[1]))):
                bucket = index[m].setdefault(f, {}).setdefault(str(v), [])
                if not bucket or bucket[-1] != r.index:
                    bucket.append(r.index)
    return TreeData(index, rest)
