"""IR: conditions in negation normal form over interned atoms shared by every recipe.

Node encoding (JSON-friendly tuples): ("T",) ("F",) ("a", id) ("n", id) ("&", kids) ("|", kids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.ops import Op
from . import ast as A
from .recipe import Recipe

IRNode = tuple[Any, ...]
TRUE: IRNode = ("T",)
FALSE: IRNode = ("F",)
AtomKey = tuple[str, str, str | int | tuple[str | int, ...] | None]


@dataclass(frozen=True)
class IRRecipe:
    index: int
    name: str
    cond: IRNode
    excs: tuple[tuple[str, IRNode], ...]


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
    return (c.field, c.op.value, v)


def to_ir(n: A.Node, table: AtomTable, neg: bool = False) -> IRNode:
    """AST -> NNF IR with constant folding, flattening and duplicate removal."""
    if isinstance(n, A.Const):
        return TRUE if n.value != neg else FALSE
    if isinstance(n, A.Not):
        return to_ir(n.item, table, not neg)
    if isinstance(n, A.Cmp):
        return ("n" if neg else "a", table.intern(atom_key(n)))
    if isinstance(n, (A.And, A.Or)):
        is_and = isinstance(n, A.And) != neg
        kids = [to_ir(i, table, neg) for i in n.items]
        return _combine("&" if is_and else "|", kids)
    raise TypeError(f"unresolved node {n!r}")  # Ref nodes are resolved by typecheck


def _combine(op: str, kids: list[IRNode]) -> IRNode:
    absorb, unit = (FALSE, TRUE) if op == "&" else (TRUE, FALSE)
    flat: list[IRNode] = []
    for k in kids:
        if k == absorb:
            return absorb
        if k == unit:
            continue
        flat.extend(k[1] if k[0] == op else (k,))
    flat = list(dict.fromkeys(flat))
    if not flat:
        return unit
    if len(flat) == 1:
        return flat[0]
    return (op, tuple(flat))


def build(recipes: tuple[Recipe, ...]) -> tuple[list[IRRecipe], AtomTable]:
    table = AtomTable()
    out = []
    for i, r in enumerate(recipes):
        cond = to_ir(r.condition, table)
        excs = tuple((x.name, to_ir(x.condition, table)) for x in r.exceptions)
        out.append(IRRecipe(i, r.name, cond, excs))
    return out, table


def ir_to_json(n: IRNode) -> Any:
    if n[0] in ("&", "|"):
        return [n[0], [ir_to_json(k) for k in n[1]]]
    return list(n)


def ir_from_json(j: Any) -> IRNode:
    if j[0] in ("&", "|"):
        return (j[0], tuple(ir_from_json(k) for k in j[1]))
    return tuple(j)


def render_ir(n: IRNode, atoms: list[AtomKey]) -> str:
    if n[0] == "T":
        return "true"
    if n[0] == "F":
        return "false"
    if n[0] in ("a", "n"):
        f, op, v = atoms[n[1]]
        txt = A.render(A.Cmp(f, Op(op), v))
        return f"#{n[1]} {txt}" if n[0] == "a" else f"not #{n[1]} {txt}"
    sep = " and " if n[0] == "&" else " or "
    return sep.join(f"({render_ir(k, atoms)})" if k[0] in ("&", "|") else render_ir(k, atoms)
                    for k in n[1])
