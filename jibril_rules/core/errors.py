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

# The long form of each code (docs/diagnostics.md sections, SARIF fullDescription): what
# triggers it and what to do. A code without an entry falls back to its CODES line.
CODE_DOCS: dict[str, str] = {
    "JR001": "The file is not valid YAML (bad indentation, an unclosed quote or bracket, a tab used "
             "for indentation, a control character). Fix the line shown; quote strings that "
             "contain ': ' or start with a special character.",
    "JR002": "The file is larger than the size limit for one recipe or config file. Split it into "
             "several files in the same folder.",
    "JR003": "YAML aliases expand into more nodes than allowed (a 'billion laughs' document). Write "
             "the repeated content out, or use lists and macros instead of anchors.",
    "JR004": "Mappings or lists are nested deeper than allowed. Flatten the structure; recipes never "
             "need deep nesting.",
    "JR005": "The file contains bytes that are not UTF-8. Re-save it as UTF-8.",
    "JR006": "The file or folder cannot be opened: it does not exist, is not readable, or is not a "
             "regular file. Check the path and permissions.",
    "JR010": "A recipe file holds a YAML list of entries (recipes, lists, macros, exceptions). Put "
             "'- ' before each recipe.",
    "JR011": "Every entry of a recipe file (or of a test file's tests:) must be a mapping of keys to "
             "values, not a bare string or number.",
    "JR020": "A key is not part of the format (often a typo); the hint names the closest valid key. "
             "Unknown keys are errors so a misspelt option never silently does nothing.",
    "JR021": "A value has the wrong type, for example a string where a list is expected. The hint "
             "shows the expected shape.",
    "JR022": "A value is of the right type but not one of the allowed values (an unknown enum value, "
             "an out-of-range number). The hint lists what is allowed.",
    "JR023": "A required key is missing, for example a recipe without 'name' or 'when', or an "
             "expected action without 'helper'.",
    "JR024": "Two keys that exclude each other are both present, or the items of one group disagree. "
             "Keep one of them.",
    "JR030": "A 'matches' pattern is not a valid regular expression, or is too long. Fix the syntax; "
             "the message quotes the regex engine's error.",
    "JR031": "The regular expression nests unbounded repetitions (like (a+)+), which can take "
             "exponential time on hostile input. Rewrite it without nested quantifiers.",
    "JR040": "The when: expression does not parse. The caret points at the first token that cannot "
             "continue the expression; see docs/recipes.md for the grammar.",
    "JR041": "The expression uses a field that does not exist; the hint names the closest one. The "
             "list of fields is in docs/fields.md (or `jibril list fields`).",
    "JR042": "The operator does not apply to the field's type or to the given value (for example "
             "'contains' on a number). See docs/operators.md (or `jibril list operators`).",
    "JR043": "The expression names a list or macro that is not defined in any loaded file. Define "
             "it, or load the folder that defines it (for example the _shared folder).",
    "JR044": "A macro refers to itself, directly or through other macros. Break the cycle.",
    "JR050": "Two recipes, lists or macros have the same name; names must be unique across every "
             "loaded file. The message names the first definition.",
    "JR051": "An exception entry names a recipe that does not exist. Fix the recipe name or remove "
             "the exception.",
    "JR060": "A JavaScript reaction does not parse. The position is mapped into the recipe file.",
    "JR061": "A JavaScript reaction must define function process(data) { ... }; it is called once "
             "per detection.",
    "JR062": "A reaction calls a function that is neither a helper (docs/reactions.md, or "
             "`jibril list helpers`) nor defined in the reaction code.",
    "JR063": "A reaction calls a NetBlock*/NetUnblock* helper but the network policy is not "
             "configured, so the call would fail at run time. Set reactions.netpolicy: true in "
             "jibril.yaml, or pass --netpolicy when linting for machines that have it.",
    "JR064": "A shell reaction does not pass `sh -n`. The position is mapped into the recipe file.",
    "JR070": "A path or name is longer than a kernel table key, so the in-kernel filter passes "
             "every event of this kind for the recipe (still correct, but slower). Shorten the "
             "value or match it with a prefix.",
    "JR071": "A value compared with an address field is not a valid IP address or CIDR.",
    "JR072": "A port is outside 0-65535.",
    "JR073": "The recipe's condition is always false (for example 'a and not a'), so it can never "
             "detect anything. Fix the condition.",
    "JR080": "The bundle file is truncated, corrupt, fails its hash check, or was written by a newer "
             "version. Recompile it with `jibril compile`.",
    "JR090": "An event line is not a valid JSON object in the recorded-event schema (bad JSON, not "
             "UTF-8, too long, missing fields). The line is skipped and the run goes on.",
}


def code_doc(code: str) -> str:
    """The long description of a code (its CODES line when none was written)."""
    return CODE_DOCS.get(code) or CODES.get(code, code)
