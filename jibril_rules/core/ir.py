"""The typed IR shared by compile time and run time: NNF conditions over interned atoms.

A node is a constant, an atom (an index into the bundle's atom table, possibly negated), an
and or an or. Walk it with `match` and end with `assert_never`, so mypy names a missed case.
The compiler builds it (compiler/ir.py), the bundle encodes it (bundle.py is the only JSON
codec), the runtime evaluates it (runtime/tree.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .ops import Op

Value = str | int | tuple[str | int, ...] | None


class AtomKey(NamedTuple):
    """One predicate (field, operator, value), interned so recipes share its evaluation."""

    field: str
    op: Op
    value: Value


def as_values(v: Any) -> tuple[Any, ...]:
    """An atom's value as a tuple: an `in` list as it is, a scalar as a 1-tuple."""
    return v if isinstance(v, tuple) else (v,)


# Operators whose atom pins the field to its value(s): what kernel tables and the index use.
EQUALITY = (Op.EQ, Op.IN)


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class Atom:
    id: int  # index into the atom table
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    kids: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    kids: tuple[Node, ...]


Node = Const | Atom | And | Or
TRUE = Const(True)
FALSE = Const(False)


@dataclass(frozen=True)
class IRRecipe:
    index: int
    name: str
    cond: Node
    excs: tuple[tuple[str, Node], ...]
