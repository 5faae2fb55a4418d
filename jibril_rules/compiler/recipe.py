"""Frozen, typed recipes: the output of lowering and the input of the IR."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import Span
from . import ast as A


@dataclass(frozen=True)
class ReactionDef:
    format: str  # "js" | "shell"
    code: str
    span: Span = field(compare=False)
    code_line: int = field(default=1, compare=False)  # file line of the code's first line
    code_col: int = field(default=1, compare=False)
    timeout_ms: int | None = None
    memory_mb: int | None = None


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
    reactions: tuple[ReactionDef, ...] = ()
    times: tuple[TimesCap, ...] = ()
    enabled: bool = True
    mode: str | None = None
    meta: tuple[tuple[str, str], ...] = ()  # version, description, importance, tactic, ...
    span: Span = field(default=Span("<input>"), compare=False)


META_KEYS = ("version", "description", "documentation", "breed", "tactic", "technique",
             "subtechnique", "importance")
