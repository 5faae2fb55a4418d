"""Frozen, typed recipes: the output of lowering and the input of the IR."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import Span
from ..core.reaction import Reaction
from . import ast as A


@dataclass(frozen=True)
class TimesCap:
    kind: str
    max: int


@dataclass(frozen=True)
class Exception_:
    name: str
    condition: A.Node
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Recipe:
    kind: str
    name: str
    mechanism: str
    condition: A.Node  # structured fields, arbitrary groups and `when:`, ANDed
    exceptions: tuple[Exception_, ...] = ()
    reactions: tuple[Reaction, ...] = ()  # core/reaction.py: the one reaction type
    times: tuple[TimesCap, ...] = ()
    enabled: bool = True
    mode: str | None = None
    meta: tuple[tuple[str, str], ...] = ()  # version, description, importance, tactic, ...
    span: Span = field(default=Span("<input>"), compare=False)
    prevent: str | None = None  # kill | deny: decided in the kernel (compiler/prevent.py)
    prevent_span: Span | None = field(default=None, compare=False)


META_KEYS = ("version", "description", "documentation", "breed", "tactic", "technique",
             "subtechnique", "importance")
