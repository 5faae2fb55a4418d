"""Read recorded events (JSONL) and run them through the engine and the reactions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import Diagnostic, Span
from ..runtime.events import EventError, normalize


@dataclass(frozen=True)
class EventLine:
    span: Span
    event: dict[str, Any]


def read_events(path: str, errors: list[Diagnostic], max_line: int = 16 * 1024 * 1024) -> Iterator[EventLine]:
    """Yield normalised events; a bad line becomes a located diagnostic and is skipped.

    `-` reads standard input (spans name it <stdin>)."""
    import sys
    fh: Any
    try:
        if path == "-":
            fh = sys.stdin.buffer
            path = "<stdin>"
        else:
            fh = open(path, "rb")
    except OSError as e:
        errors.append(Diagnostic("JR006", f"cannot read events: {e.strerror}", Span(path), "check the path"))
        return
    with fh:
        for n, raw in enumerate(fh, 1):
            if len(raw) > max_line:
                errors.append(Diagnostic("JR090", "event line longer than 16 MiB", Span(path, n, 1),
                                         "split the event or drop it"))
                continue
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
                obj = json.loads(text)
                yield EventLine(Span(path, n, 1), normalize(obj))
            except UnicodeDecodeError as e:
                errors.append(Diagnostic("JR090", "line is not valid UTF-8", Span(path, n, e.start + 1),
                                         "re-record the events as UTF-8 JSON lines"))
            except json.JSONDecodeError as e:
                errors.append(Diagnostic("JR090", f"invalid JSON: {e.msg}", Span(path, n, e.colno),
                                         "each line must be one JSON object"))
            except RecursionError:
                errors.append(Diagnostic("JR090", "JSON nested too deeply", Span(path, n, 1),
                                         "flatten the event"))
            except EventError as e:
                errors.append(Diagnostic("JR090", f"malformed event: {e}", Span(path, n, 1),
                                         "see docs/design.md for the event schema"))


def inline_events(items: list[Any], span: Span, errors: list[Diagnostic]) -> list[EventLine]:
    out = []
    for i, obj in enumerate(items):
        try:
            out.append(EventLine(span, normalize(obj)))
        except EventError as e:
            errors.append(Diagnostic("JR090", f"event #{i + 1}: {e}", span, "fix the inline event"))
    return out


def resolve(base: str, rel: str) -> str:
    p = Path(rel)
    return str(p if p.is_absolute() else Path(base).parent / p)
