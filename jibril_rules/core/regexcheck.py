"""Regex validation: syntax, and nested unbounded repeats that backtrack catastrophically."""

from __future__ import annotations

import re

# Python >= 3.11 (pyproject): the regex parser lives in re._parser.
import re._parser as sre_parse  # type: ignore[import-not-found]
from re._constants import (  # type: ignore[import-not-found]
    ANY,
    AT,
    BRANCH,
    CATEGORY,
    IN,
    LITERAL,
    MAX_REPEAT,
    MAXREPEAT,
    MIN_REPEAT,
    NEGATE,
    NOT_LITERAL,
    RANGE,
    SUBPATTERN,
)
from typing import Any


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
    """An unbounded repeat whose body can match the same text in several ways: (a+)+, (.*a)*."""
    for op, av in items:
        if op in (MAX_REPEAT, MIN_REPEAT):
            lo, hi, sub = av
            unbounded = hi == MAXREPEAT or hi > 100
            if unbounded and _ambiguous(sub):
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


def _flatten(items: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    for op, av in items:
        if op == SUBPATTERN:
            out.extend(_flatten(av[-1]))
        else:
            out.append((op, av))
    return out


def _ambiguous(body: Any) -> bool:
    """True when the body of an unbounded repeat holds an unbounded repeat that can also
    consume every required literal of the body (or there is no required literal)."""
    flat = _flatten(body)
    inner = [av for op, av in flat if op in (MAX_REPEAT, MIN_REPEAT)
             and (av[1] == MAXREPEAT or av[1] > 100)]
    if not inner:
        return False
    required = [(op, av) for op, av in flat if op in (LITERAL, IN, NOT_LITERAL, ANY)]
    if not required:
        return True
    for _, _, sub in inner:
        for rop, rav in required:
            if rop != LITERAL or _can_match(sub, rav):
                return True
    return False


def _can_match(sub: Any, ch: int) -> bool:
    """Can the repeated element `sub` consume the character `ch`? (conservative: yes)"""
    for op, av in _flatten(sub):
        if op == LITERAL:
            if av == ch:
                return True
        elif op == NOT_LITERAL or op == ANY:
            return True
        elif op == IN:
            if _in_class(av, ch):
                return True
        elif op in (MAX_REPEAT, MIN_REPEAT, BRANCH, CATEGORY):
            return True
    return False


def _in_class(items: Any, ch: int) -> bool:
    neg = False
    hit = False
    c = chr(ch)
    for op, av in items:
        if op == NEGATE:
            neg = True
        elif op == LITERAL:
            hit |= av == ch
        elif op == RANGE:
            hit |= av[0] <= ch <= av[1]
        elif op == CATEGORY:
            name = str(av)
            test = {"CATEGORY_DIGIT": c.isdigit(), "CATEGORY_SPACE": c.isspace(),
                    "CATEGORY_WORD": c.isalnum() or c == "_"}
            for k, v in test.items():
                if name.endswith(k):
                    hit |= v if "NOT" not in name else not v
    return hit != neg


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
