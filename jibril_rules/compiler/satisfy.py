"""JR073: a recipe whose condition can never hold, named by the predicates that contradict.

Two contradictions are found, inside any conjunction of the NNF condition: a field that the
recipe's event kind never carries (`flow.remote.port` in an execution recipe, `file.actions`
in a network_peers one), and two equalities on one scalar field with no common value
(`process.comm == "a" and process.comm == "b"`). A disjunction is impossible when every
alternative is. Sound by construction: when in doubt, no warning.
"""

from __future__ import annotations

from typing import assert_never

from ..core.errors import Collector
from ..core.fields import FIELDS
from ..core.ir import And, Atom, AtomKey, Const, Node, Or
from ..core.ops import Op
from ..core.vocab import MECHANISMS
from . import ast as A
from .index import kinds_of, mechanism_gate
from .ir import AtomTable, to_ir
from .recipe import Recipe

_EVERY = frozenset(MECHANISMS)
_VALUE_TYPES = ("string", "int")  # IP equality accepts CIDRs: overlap is not value equality


def _text(key: AtomKey) -> str:
    return A.render(A.Cmp(key.field, key.op, key.value))


def _kinds(key: AtomKey) -> frozenset[str] | None:
    """Event kinds in which this (positive) atom can hold, or None for every kind."""
    f = FIELDS.get(key.field)
    if f is None or key.op is Op.NE:  # `!=` holds when the field is absent
        return None
    if key.field == "event.mechanism":
        return mechanism_gate(key)
    return f.kinds if f.kinds != _EVERY else None


def _values(key: AtomKey) -> frozenset[str | int] | None:
    f = FIELDS.get(key.field)
    if f is None or f.type.is_list or f.type.value not in _VALUE_TYPES or key.op not in (Op.EQ, Op.IN):
        return None
    vals = key.value if isinstance(key.value, tuple) else (key.value,)
    return frozenset(v for v in vals if v is not None)


def contradiction(n: Node, atoms: list[AtomKey]) -> str | None:
    """Why `n` can never hold, or None when it may."""
    match n:
        case Const() | Atom():
            return None  # a constant false comes from `false` or a condition with an error
        case Or(kids):
            why = [contradiction(k, atoms) for k in kids]
            if all(w is not None for w in why):
                return "no alternative can hold (" + "; ".join(w for w in why if w) + ")"
            return None
        case And(kids):
            return _conjunction(kids, atoms)
        case _:
            assert_never(n)


def _node_kinds(n: Node, atoms: list[AtomKey]) -> frozenset[str]:
    """Event kinds in which `n` can hold."""
    return kinds_of(n, atoms, _kinds)


def _render(n: Node, atoms: list[AtomKey]) -> str:
    match n:
        case Const(value):
            return "true" if value else "false"
        case Atom(i, negated):
            return ("not " if negated else "") + _text(atoms[i])
        case And(kids) | Or(kids):
            sep = " and " if isinstance(n, And) else " or "
            return "(" + sep.join(_render(k, atoms) for k in kids) + ")"
        case _:
            assert_never(n)


def _conjunction(kids: tuple[Node, ...], atoms: list[AtomKey]) -> str | None:
    for k in kids:
        why = contradiction(k, atoms)
        if why is not None:
            return why
    kinds = [(k, ks) for k in kids if (ks := _node_kinds(k, atoms)) != _EVERY]
    for i, (a, ka) in enumerate(kinds):
        for b, kb in kinds[i + 1:]:
            if not ka & kb:
                gate = isinstance(b, Atom) and atoms[b.id].field == "event.mechanism"
                needy, needs = (a, ka) if gate else (b, kb)
                return (f"{_render(a, atoms)} and {_render(b, atoms)} cannot both hold: "
                        f"{_render(needy, atoms)} needs {' or '.join(sorted(needs))} events")
    pos = [atoms[k.id] for k in kids if isinstance(k, Atom) and not k.negated]
    by_field: dict[str, list[tuple[AtomKey, frozenset[str | int]]]] = {}
    for key in pos:
        vs = _values(key)
        if vs is not None:
            by_field.setdefault(key.field, []).append((key, vs))
    for lst in by_field.values():
        for i, (x, vx) in enumerate(lst):
            for y, vy in lst[i + 1:]:
                if not vx & vy:
                    return f"{_text(x)} and {_text(y)} cannot both hold (no common value)"
    return None


def check_satisfiable(r: Recipe, diags: Collector) -> None:
    """Warn (JR073) at the recipe; files with errors are skipped (their conditions are partial)."""
    if any(d.span.file == r.span.file for d in diags.errors):
        return
    table = AtomTable()
    why = contradiction(to_ir(r.condition, table), table.atoms)
    if why is not None:
        diags.warn("JR073", f"recipe '{r.name}' can never match: {why}", r.span,
                   "remove the contradicting condition, or fix the mechanism")
