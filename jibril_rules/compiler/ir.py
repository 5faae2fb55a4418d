"""AST -> IR: negation normal form over interned atoms shared by every recipe.

The node types live in core/ir.py (the runtime evaluates them); their JSON form in bundle.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import assert_never

from ..core.ir import FALSE, TRUE, And, Atom, AtomKey, Const, IRRecipe, Node, Or
from ..core.ops import Op
from . import ast as A
from .recipe import Recipe

__all__ = ["AtomKey", "AtomTable", "IRRecipe", "Node", "atom_key", "build", "render_ir", "to_ir"]


@dataclass
class AtomTable:
    """Interns (field, op, value) so a predicate shared by recipes is evaluated once per event."""

    atoms: list[AtomKey] = field(default_factory=list)
    ids: dict[AtomKey, int] = field(default_factory=dict)

    def intern(self, key: AtomKey) -> int:
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.atoms)
            self.atoms.append(key)
        return i


def atom_key(c: A.Cmp) -> AtomKey:
    v = c.value
    if isinstance(v, tuple):
        v = tuple(x for x in v if not isinstance(x, A.ListRef))
    return AtomKey(c.field, c.op, v)


def to_ir(n: A.Node, table: AtomTable, neg: bool = False) -> Node:
    """AST -> NNF IR with constant folding, flattening and duplicate removal."""
    if isinstance(n, A.Const):
        return TRUE if n.value != neg else FALSE
    if isinstance(n, A.Not):
        return to_ir(n.item, table, not neg)
    if isinstance(n, A.Cmp):
        return Atom(table.intern(atom_key(n)), neg)
    if isinstance(n, (A.And, A.Or)):
        is_and = isinstance(n, A.And) != neg
        kids = [to_ir(i, table, neg) for i in n.items]
        return _combine(is_and, kids)
    raise TypeError(f"unresolved node {n!r}")  # Ref nodes are resolved by typecheck


def _combine(is_and: bool, kids: list[Node]) -> Node:
    absorb, unit = (FALSE, TRUE) if is_and else (TRUE, FALSE)
    flat: list[Node] = []
    for k in kids:
        if k == absorb:
            return absorb
        if k == unit:
            continue
        if is_and and isinstance(k, And) or not is_and and isinstance(k, Or):
            flat.extend(k.kids)
        else:
            flat.append(k)
    flat = list(dict.fromkeys(flat))
    if not flat:
        return unit
    if len(flat) == 1:
        return flat[0]
    return And(tuple(flat)) if is_and else Or(tuple(flat))


def build(recipes: tuple[Recipe, ...]) -> tuple[list[IRRecipe], AtomTable]:
    table = AtomTable()
    out = []
    for i, r in enumerate(recipes):
        cond = to_ir(r.condition, table)
        excs = tuple((x.name, to_ir(x.condition, table)) for x in r.exceptions)
        out.append(IRRecipe(i, r.name, cond, excs))
    return out, table


def render_ir(n: Node, atoms: list[AtomKey]) -> str:
    match n:
        case Const(value):
            return "true" if value else "false"
        case Atom(i, negated):
            f, op, v = atoms[i]
            txt = A.render(A.Cmp(f, Op(op), v))
            return f"not #{i} {txt}" if negated else f"#{i} {txt}"
        case And(kids) | Or(kids):
            sep = " and " if isinstance(n, And) else " or "
            return sep.join(f"({render_ir(k, atoms)})" if isinstance(k, (And, Or))
                            else render_ir(k, atoms) for k in kids)
        case _:
            assert_never(n)
