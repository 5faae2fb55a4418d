"""A recipe's reaction: one type from the recipe file through the bundle to the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Span

NOSPAN = Span("<bundle>")


@dataclass(frozen=True)
class Reaction:
    format: str  # "js" | "shell"
    code: str
    span: Span = field(default=NOSPAN, compare=False)  # where the reaction entry is (lint)
    code_line: int = field(default=1, compare=False)  # file line of the code's first line
    code_col: int = field(default=1, compare=False)
    timeout_ms: int | None = None
    memory_mb: int | None = None
