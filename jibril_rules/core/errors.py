"""Diagnostics: every problem a user can trigger carries file:line:column, a code and a hint."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"  # how lint read something it accepted (e.g. a bare word as a string)


@dataclass(frozen=True, order=True)
class Span:
    """A place in a source file; line and column are 1-based."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    hint: str = ""
    severity: Severity = Severity.ERROR

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code, "severity": self.severity.value, "message": self.message,
            "hint": self.hint, "file": self.span.file, "line": self.span.line,
            "column": self.span.col,
        }


@dataclass
class Collector:
    """Collect-all mode: passes append here instead of raising, so lint shows everything."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, code: str, message: str, span: Span, hint: str = "",
            severity: Severity = Severity.ERROR) -> None:
        self.items.append(Diagnostic(code, message, span, hint, severity))

    def warn(self, code: str, message: str, span: Span, hint: str = "") -> None:
        self.add(code, message, span, hint, Severity.WARNING)

    def note(self, code: str, message: str, span: Span, hint: str = "") -> None:
        self.add(code, message, span, hint, Severity.NOTE)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]


class JibrilError(Exception):
    """An error meant for the user; carries diagnostics instead of a traceback."""

    def __init__(self, diagnostics: list[Diagnostic] | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic("JR000", diagnostics, Span("<input>"))]
        self.diagnostics = diagnostics
        super().__init__("; ".join(f"{d.span}: {d.message}" for d in diagnostics))


# Stable codes; docs/diagnostics.md is generated from this table.
CODES: dict[str, str] = {
    "JR000": "internal failure (the recipe compiler crashed) or an unlocated error",
    "JR001": "YAML syntax error",
    "JR002": "file too large",
    "JR003": "YAML alias expansion too large (YAML bomb)",
    "JR004": "nesting too deep",
    "JR005": "file is not valid UTF-8",
    "JR006": "file cannot be read",
    "JR007": "duplicate key in a YAML mapping",
    "JR008": "number with a leading zero (decimal in YAML 1.2, octal in YAML 1.1)",
    "JR010": "a recipe file must be a YAML list",
    "JR011": "list entry must be a mapping",
    "JR020": "unknown key",
    "JR021": "wrong type",
    "JR022": "invalid value",
    "JR023": "required key missing",
    "JR024": "conflicting keys",
    "JR025": "arbitrary group has no effect (constant verdict)",
    "JR030": "invalid regular expression",
    "JR031": "regular expression may backtrack catastrophically",
    "JR040": "syntax error in expression",
    "JR041": "unknown field",
    "JR042": "operator does not apply to this field or value",
    "JR043": "unknown list or macro",
    "JR044": "macro refers to itself",
    "JR045": "a bare word in a list is read as a string (no list of that name)",
    "JR050": "duplicate name",
    "JR051": "exception names an unknown recipe",
    "JR052": "recipe test names an unknown recipe",
    "JR060": "JavaScript syntax error",
    "JR061": "JavaScript reaction has no process(data) function",
    "JR062": "call to an unknown helper function",
    "JR063": "network helper used but netpolicy is not configured",
    "JR064": "shell syntax error",
    "JR070": "value too long for the kernel table; widened to pass-all",
    "JR071": "invalid CIDR or IP address",
    "JR072": "invalid port",
    "JR073": "recipe can never match",
    "JR074": "prevent: on a recipe the kernel cannot decide whole",
    "JR080": "bundle is corrupt, truncated or from a newer version",
    "JR081": "bundle signature missing, invalid or by an untrusted key",
    "JR082": "bundle needs a newer engine",
    "JR083": "registry unreachable or refused the request",
    "JR090": "event is malformed",
}
