"""Residual matching: the decision tree of a bundle, evaluated per event.

An event looks up only the buckets its own values select (compiler/index.py built them),
plus the few recipes with no index key. Atoms are interned across recipes and memoised per
event, so a predicate shared by many recipes is evaluated once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

from ..bundle import INDEX_FIELDS, TreeData
from ..core.ir import And, Atom, AtomKey, Const, IRRecipe, Node, Or
from ..core.vocab import MECHANISMS
from .predicates import Pred, compile_atom

Getter = Callable[[str], Any]
Evaluator = Callable[[dict[int, bool], Getter], bool]


def compile_node(n: Node, preds: list[Pred], atoms: list[AtomKey]) -> Evaluator:
    """Closure evaluating an IR node with a per-event atom memo."""
    match n:
        case Const(value):
            return lambda memo, get: value
        case Atom(aid, negated):
            fld, pred, pos = atoms[aid].field, preds[aid], not negated

            def atom(memo: dict[int, bool], get: Getter) -> bool:
                r = memo.get(aid)
                if r is None:
                    r = memo[aid] = pred(get(fld))
                return r if pos else not r
            return atom
        case And(kids):
            ands = [compile_node(k, preds, atoms) for k in kids]
            return lambda memo, get: all(k(memo, get) for k in ands)
        case Or(kids):
            ors = [compile_node(k, preds, atoms) for k in kids]
            return lambda memo, get: any(k(memo, get) for k in ors)
        case _:
            assert_never(n)


class Tree:
    """The runtime form of TreeData: candidate lookup plus compiled recipe evaluators."""

    def __init__(self, data: TreeData, recipes: list[IRRecipe], atoms: list[AtomKey]) -> None:
        self.data = data
        preds = [compile_atom(a) for a in atoms]
        self.conds = [compile_node(r.cond, preds, atoms) for r in recipes]
        self.excs = [[(name, compile_node(x, preds, atoms)) for name, x in r.excs] for r in recipes]
        self._index = {m: [(f, {k: tuple(v) for k, v in b.items()}) for f, b in
                           sorted(data.index[m].items(), key=lambda x: INDEX_FIELDS.index(x[0]))]
                       for m in MECHANISMS}
        self._rest = {m: tuple(data.rest[m]) for m in MECHANISMS}
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

