"""Residual matching: a decision tree indexed by event kind and exact-valued fields.

Per mechanism, recipes are bucketed under one necessary (field, value) condition taken from
their IR (or a directory prefix of file.file); an event looks up only the buckets its own
values select, plus the few recipes with no index key. Atoms are interned across recipes and
memoised per event, so a predicate shared by many recipes is evaluated once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..compiler.ir import AtomKey, IRNode, IRRecipe
from ..core.fields import FIELDS
from ..core.regexcheck import literal_prefix
from .predicates import compile_atom

MECHS = ("file_access", "execution", "network_peers")
# Index keys in order of preference (most selective first).
INDEX_FIELDS = ("file.file", "file.basename", "process.exe", "file.dir", "file.prefix",
                "process.comm", "flow.names", "flow.remote.port", "flow.local.port")
# "file.prefix": directory prefixes of file.file; "flow.names": dot-suffixes of the remote names
Need = frozenset[tuple[str, Any]]


def index_need(n: IRNode, atoms: list[AtomKey]) -> Need | None:
    """(field, value) pairs of which every matching event satisfies at least one, or None.

    An `or` of alternatives keyed on different fields is still indexed: the recipe goes into
    each alternative's bucket, and an event looks up all of its own values anyway.
    """
    tag = n[0]
    if tag == "a":
        f, op, v = atoms[n[1]]
        vals = v if isinstance(v, tuple) else (v,)
        if f in INDEX_FIELDS and op in ("==", "in") and not FIELDS[f].type.is_list:
            return frozenset((f, x) for x in vals)
        if f == "flow.remote.names" and op in ("==", "in", "contains"):
            return frozenset(("flow.names", x) for x in vals)
        if f == "flow.remote.names" and op == "endswith" and isinstance(v, str) and v.startswith("."):
            return frozenset({("flow.names", v[1:])})
        if f == "file.file" and op in ("startswith", "regex") and isinstance(v, str):
            pre = v if op == "startswith" else literal_prefix(v, anchored=False)
            if "/" in pre:
                return frozenset({("file.prefix", pre[: pre.rfind("/") + 1])})
        return None
    if tag == "&":
        found = [x for x in (index_need(k, atoms) for k in n[1]) if x is not None]
        return min(found, key=_cost) if found else None
    if tag == "|":
        needs = [index_need(k, atoms) for k in n[1]]
        if needs and all(x is not None for x in needs):
            return frozenset().union(*(x for x in needs if x is not None))
        return None
    return None


def _cost(need: Need) -> tuple[int, int]:
    """Prefer the most selective fields, then the fewest buckets."""
    return max(INDEX_FIELDS.index(f) for f, _ in need), len(need)


def describe(need: Need) -> str:
    fields = sorted({f for f, _ in need}, key=INDEX_FIELDS.index)
    vals = sorted({str(v) for _, v in need})
    more = f" (+{len(vals) - 8} more)" if len(vals) > 8 else ""
    return f"{' / '.join(fields)} in [{', '.join(vals[:8])}]{more}"


def _mechs(n: IRNode, atoms: list[AtomKey]) -> frozenset[str]:
    tag = n[0]
    if tag == "F":
        return frozenset()
    if tag == "a":
        f, op, v = atoms[n[1]]
        if f == "event.mechanism" and op in ("==", "in"):
            return frozenset(str(x) for x in (v if isinstance(v, tuple) else (v,))) & frozenset(MECHS)
    if tag == "&":
        out = frozenset(MECHS)
        for k in n[1]:
            out &= _mechs(k, atoms)
        return out
    if tag == "|":
        return frozenset().union(*(_mechs(k, atoms) for k in n[1]))
    return frozenset(MECHS)


@dataclass(frozen=True)
class TreeData:
    """Serializable index: mechanism -> {field -> {value -> [recipe]}}, plus unindexed lists."""

    index: dict[str, dict[str, dict[str, list[int]]]]
    rest: dict[str, list[int]]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "rest": self.rest}

    @staticmethod
    def from_json(d: dict[str, Any]) -> TreeData:
        return TreeData(d["index"], d["rest"])


def build_tree(recipes: list[IRRecipe], atoms: list[AtomKey]) -> TreeData:
    index: dict[str, dict[str, dict[str, list[int]]]] = {m: {} for m in MECHS}
    rest: dict[str, list[int]] = {m: [] for m in MECHS}
    for r in recipes:
        need = index_need(r.cond, atoms)
        for m in sorted(_mechs(r.cond, atoms)):
            if need is None:
                rest[m].append(r.index)
                continue
            for f, v in sorted(need, key=lambda x: (x[0], str(x[1]))):
                bucket = index[m].setdefault(f, {}).setdefault(str(v), [])
                if not bucket or bucket[-1] != r.index:
                    bucket.append(r.index)
    return TreeData(index, rest)


Evaluator = Callable[[dict[int, bool], Callable[[str], Any]], bool]


def compile_node(n: IRNode, preds: list[Callable[[Any], bool]], atoms: list[AtomKey]) -> Evaluator:
    """Closure evaluating an IR node with a per-event atom memo."""
    tag = n[0]
    if tag in ("T", "F"):
        const = tag == "T"
        return lambda memo, get: const
    if tag in ("a", "n"):
        aid, fld, pred, pos = n[1], atoms[n[1]][0], preds[n[1]], tag == "a"

        def atom(memo: dict[int, bool], get: Callable[[str], Any]) -> bool:
            r = memo.get(aid)
            if r is None:
                r = memo[aid] = pred(get(fld))
            return r if pos else not r
        return atom
    kids = [compile_node(k, preds, atoms) for k in n[1]]
    if tag == "&":
        return lambda memo, get: all(k(memo, get) for k in kids)
    return lambda memo, get: any(k(memo, get) for k in kids)


class Tree:
    """The runtime form of TreeData: candidate lookup plus compiled recipe evaluators."""

    def __init__(self, data: TreeData, recipes: list[IRRecipe], atoms: list[AtomKey]) -> None:
        self.data = data
        preds = [compile_atom(a) for a in atoms]
        self.conds = [compile_node(r.cond, preds, atoms) for r in recipes]
        self.excs = [[(name, compile_node(x, preds, atoms)) for name, x in r.excs] for r in recipes]
        self._index = {m: [(f, {k: tuple(v) for k, v in b.items()}) for f, b in
                           sorted(data.index[m].items(), key=lambda x: INDEX_FIELDS.index(x[0]))]
                       for m in MECHS}
        self._rest = {m: tuple(data.rest[m]) for m in MECHS}

    def candidates(self, mech: str, get: Callable[[str], Any]) -> list[int]:
        rest = self._rest.get(mech, ())
        found: list[int] = list(rest)
        for f, bucket in self._index.get(mech, ()):
            if f == "file.prefix":
                path = get("file.file")
                if isinstance(path, str):
                    i = path.find("/")
                    while i >= 0:
                        hit = bucket.get(path[: i + 1])
                        if hit:
                            found.extend(hit)
                        i = path.find("/", i + 1)
                continue
            if f == "flow.names":
                for name in get("flow.remote.names") or ():
                    while isinstance(name, str) and name:
                        hit = bucket.get(name)
                        if hit:
                            found.extend(hit)
                        name = name.partition(".")[2]
                continue
            v = get(f)
            if v is None:
                continue
            hit = bucket.get(v if isinstance(v, str) else str(v))
            if hit:
                found.extend(hit)
        if len(found) > 1:
            found = sorted(set(found))
        return found

    def match(self, mech: str, get: Callable[[str], Any]) -> list[tuple[int, str | None]]:
        """(recipe index, exception name or None) for each recipe whose condition holds."""
        memo: dict[int, bool] = {}
        out: list[tuple[int, str | None]] = []
        for i in self.candidates(mech, get):
            if self.conds[i](memo, get):
                exc = next((name for name, f in self.excs[i] if f(memo, get)), None)
                out.append((i, exc))
        return out

