"""Typed, frozen AST of a recipe condition; structural equality ignores spans."""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dfield
from typing import Union

from ..core.errors import Span
from ..core.ops import Op

NOSPAN = Span("<builtin>")


@dataclass(frozen=True)
class ListRef:
    name: str
    span: Span = dfield(default=NOSPAN, compare=False)


Scalar = Union[str, int]
Value = Union[str, int, tuple[str | int | ListRef, ...], None]


@dataclass(frozen=True)
class Cmp:
    field: str
    op: Op
    value: Value
    span: Span = dfield(default=NOSPAN, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    span: Span = dfield(default=NOSPAN, compare=False)


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    span: Span = dfield(default=NOSPAN, compare=False)


@dataclass(frozen=True)
class Not:
    item: Node
    span: Span = dfield(default=NOSPAN, compare=False)


@dataclass(frozen=True)
class Ref:
    """A macro name used as a predicate; replaced by the macro's condition when lowering."""

    name: str
    span: Span = dfield(default=NOSPAN, compare=False)


@dataclass(frozen=True)
class Const:
    value: bool
    span: Span = dfield(default=NOSPAN, compare=False)


Node = Union[Cmp, And, Or, Not, Ref, Const]
TRUE = Const(True)
FALSE = Const(False)


def render(n: Node) -> str:
    """Canonical text of a condition (used by explain and golden tests)."""
    if isinstance(n, Const):
        return "true" if n.value else "false"
    if isinstance(n, Ref):
        return n.name
    if isinstance(n, Not):
        return f"not {_paren(n.item)}"
    if isinstance(n, And):
        return " and ".join(_paren(i) for i in n.items)
    if isinstance(n, Or):
        return " or ".join(_paren(i) for i in n.items)
    if n.op is Op.EXISTS:
        return f"{n.field} exists"
    return f"{n.field} {n.op.value} {_value(n.value)}"


def _paren(n: Node) -> str:
    return f"({render(n)})" if isinstance(n, (And, Or)) else render(n)


def _value(v: Value) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) if not isinstance(x, ListRef) else x.name for x in v) + ")"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
