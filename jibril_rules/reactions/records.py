"""Result types: helper calls, execution records, lint issues."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("ok", "error", "timeout", "memory", "rate_limited", "deduped")


@dataclass(frozen=True)
class HelperCall:
    """One helper invocation: what was asked, what it returned, Errno() after it."""

    name: str
    args: tuple[Any, ...]
    result: Any
    errno: str = ""
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "args": list(self.args), "result": self.result}
        if self.errno:
            out["errno"] = self.errno
        if self.dry_run:
            out["dry_run"] = True
        return out


@dataclass(frozen=True)
class ExecutionRecord:
    """The outcome of one reaction execution (one line of the audit trail)."""

    recipe: str
    kind: str
    uuid: str
    index: int
    format: str
    start: str
    duration_ms: float
    mode: str
    status: str
    calls: tuple[HelperCall, ...] = ()
    logs: tuple[str, ...] = ()
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def helper_names(self) -> list[str]:
        return [c.name for c in self.calls]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "recipe": self.recipe,
            "kind": self.kind,
            "uuid": self.uuid,
            "index": self.index,
            "format": self.format,
            "start": self.start,
            "duration_ms": round(self.duration_ms, 3),
            "mode": self.mode,
            "status": self.status,
            "calls": [c.to_dict() for c in self.calls],
            "logs": list(self.logs),
            "error": self.error,
        }
        if self.extra:
            out.update(self.extra)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)


@dataclass(frozen=True)
class JsIssue:
    """A problem found by check_js/check_shell; line/column are 1-based in the code."""

    line: int
    column: int
    message: str
    severity: str = "error"
    code: str = "JR060"  # its diagnostic code (core/errors.py CODES): JR060..JR064

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.severity}: {self.message}"
