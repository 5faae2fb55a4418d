"""Regex validation: syntax, and nested unbounded repeats that backtrack catastrophically."""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from re._constants import MAX_REPEAT, MAXREPEAT, MIN_REPEAT, SUBPATTERN, BRANCH, LITERAL, AT  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import MAX_REPEAT, MAXREPEAT, MIN_REPEAT, SUBPATTERN, BRANCH, LITERAL, AT  # type: ignore[no-redef]


def check_regex(pattern: str) -> tuple[str, str] | None:
    """Return (code, message) when the pattern is invalid or dangerous, else None."""
    if len(pattern) > 4096:
        return "JR030", "regular expression longer than 4096 characters"
    try:
        parsed = sre_parse.parse(pattern)
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as e:
        return "JR030", f"invalid regular expression: {e}"
    if _nested_repeat(parsed, inside=False):
        return "JR031", "nested unbounded repetition (like (a+)+) can take exponential time"
    return None


def _nested_repeat(items: Any, inside: bool) -> bool:
    for op, av in items:
        if op in (MAX_REPEAT, MIN_REPEAT):
            lo, hi, sub = av
            unbounded = hi == MAXREPEAT or hi > 100
            if unbounded and inside and _has_variable(sub):
                return True
            if _nested_repeat(sub, inside or unbounded):
                return True
        elif op == SUBPATTERN:
            if _nested_repeat(av[-1], inside):
                return True
        elif op == BRANCH:
            for b in av[1]:
                if _nested_repeat(b, inside):
                    return True
    return False


def _has_variable(items: Any) -> bool:
    return any(op != AT for op, _ in items)


def literal_prefix(pattern: str, anchored: bool) -> str:
    """The literal text every match must start with ('' when none or not anchored)."""
    try:
        items = list(sre_parse.parse(pattern))
    except (re.error, RecursionError):
        return ""
    starts = bool(items) and items[0][0] == AT and str(items[0][1]) in (
        "AT_BEGINNING", "AT_BEGINNING_STRING")
    if starts:
        items = items[1:]
    elif not anchored:
        return ""
    out: list[str] = []
    while items:
        op, av = items[0]
        if op == LITERAL:
            out.append(chr(av))
            items = items[1:]
        elif op == SUBPATTERN and len(items) >= 1:
            items = list(av[-1]) + items[1:]
        else:
            break
    return "".join(out)
