"""The scalar kinds of the settings schema (core/confschema.py): strict and bounded.

`At` is where a value stands (its dotted path, span and the collector); a kind's `check`
returns the converted value, or INVALID after adding one located diagnostic with a hint.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import Collector, Span


class _Invalid:
    """The result of a value that failed its check (the diagnostic is already added)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


@dataclass(frozen=True)
class At:
    """Where a value stands: its dotted path, its span, and the collector to report to."""

    path: str
    span: Span
    diags: Collector
    default: Any = None  # the field's default, for the examples in hints

    def child(self, name: str | int, span: Span, default: Any = None) -> At:
        sub = f"{self.path}[{name}]" if isinstance(name, int) else (
            f"{self.path}.{name}" if self.path else name)
        return At(sub, span, self.diags, default)

    def sample(self, fallback: str) -> str:
        d = self.default
        if d is None or isinstance(d, (tuple, list, dict)):
            return fallback
        return _yaml_text(d)

    def wrong_type(self, want: str, value: Any, hint: str) -> Any:
        self.diags.add("JR021", f"'{self.path}' must be {want}, not {describe_value(value)}",
                       self.span, hint)
        return INVALID

    def bad(self, message: str, hint: str) -> Any:
        self.diags.add("JR022", f"'{self.path}' {message}", self.span, hint)
        return INVALID

    @property
    def leaf(self) -> str:
        """The key name (of the list, for an item)."""
        return re.sub(r"(\[\d+\])+$", "", self.path).rsplit(".", 1)[-1] or self.path


def describe_value(v: Any) -> str:
    """How a YAML value reads in a message: `the string "four"`, `a list`, `true`."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {json.dumps(str(v))}"
    if isinstance(v, (int, float)):
        return f"the number {v}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


def _yaml_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class Kind:
    """A value type: `check` returns the converted value or INVALID (after reporting)."""

    def check(self, value: Any, at: At) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def example(self) -> str:
        return "..."


@dataclass(frozen=True)
class Bool(Kind):
    def check(self, value: Any, at: At) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in (
                "true", "false", "yes", "no", "on", "off", "y", "n", "1", "0"):
            truth = value.strip().lower() in ("true", "yes", "on", "y", "1")
            why = ("a quoted word is a string, and any non-empty string is truthy"
                   if getattr(value, "style", None) in ("'", '"') else
                   f"'{value}' is a word in YAML 1.2; the booleans are true and false")
            return at.wrong_type("true or false", value,
                                 f"write {at.leaf}: {'true' if truth else 'false'} (no quotes): {why}")
        return at.wrong_type("true or false", value, f"write {at.leaf}: true or {at.leaf}: false")

    def describe(self) -> str:
        return "true or false"

    def example(self) -> str:
        return "false"


@dataclass(frozen=True)
class Int(Kind):
    min: int | None = None
    max: int | None = None
    unit: str = ""

    def check(self, value: Any, at: At) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return at.wrong_type("a whole number", value,
                                     f"write a number without quotes, e.g. {at.leaf}: {at.sample(self.example())}")
        return _bounded(value, self.min, self.max, self.unit, at)

    def describe(self) -> str:
        return "an integer" + _range_text(self.min, self.max, self.unit)

    def example(self) -> str:
        return str(self.min if self.min is not None and self.min > 0 else max(self.min or 0, 1))


@dataclass(frozen=True)
class Float(Kind):
    min: float | None = None
    max: float | None = None
    unit: str = ""

    def check(self, value: Any, at: At) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return at.wrong_type("a number", value,
                                 f"write a number without quotes, e.g. {at.leaf}: {at.sample(self.example())}")
        if value != value or value in (float("inf"), float("-inf")):
            return at.bad(f"is {value}; it must be a finite number",
                          f"e.g. {at.leaf}: {at.sample(self.example())}")
        return _bounded(float(value), self.min, self.max, self.unit, at)

    def describe(self) -> str:
        return "a number" + _range_text(self.min, self.max, self.unit)

    def example(self) -> str:
        return "1.0"


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}" if abs(v) < 1e15 else repr(v)


def _range_text(lo: float | None, hi: float | None, unit: str) -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f" from {_num(lo)} to {_num(hi)}{u}"
    if lo is not None:
        return f" of at least {_num(lo)}{u}"
    if hi is not None:
        return f" of at most {_num(hi)}{u}"
    return ""


def _bounded(v: Any, lo: float | None, hi: float | None, unit: str, at: At) -> Any:
    u = f" {unit}" if unit else ""
    allowed = f"allowed: {_range_text(lo, hi, unit).strip()}, e.g. {at.leaf}: {at.sample(_num(lo or 0))}"
    if lo is not None and v < lo:
        return at.bad(f"is {_num(v)}{u}; it must be at least {_num(lo)}{u}", allowed)
    if hi is not None and v > hi:
        return at.bad(f"is {_num(v)}{u}; it must be at most {_num(hi)}{u}", allowed)
    return v


@dataclass(frozen=True)
class Str(Kind):
    """A string; optionally one of `choices`, matching `pattern`, non-empty."""

    choices: tuple[str, ...] = ()
    pattern: str = ""
    what: str = "a string"
    nonempty: bool = False
    max_len: int = 4096
    sample: str = ""

    def check(self, value: Any, at: At) -> Any:
        if not isinstance(value, str):
            if self.choices:
                return at.wrong_type(f"one of {', '.join(self.choices)}", value,
                                     f"write {at.leaf}: {self.choices[0]}")
            return at.wrong_type(self.what, value, f"write {at.leaf}: {self.example()}"
                                 + (" (quote it to keep it a string)" if value is not None else ""))
        s = str(value)
        if self.choices and s not in self.choices:
            near = difflib.get_close_matches(s, self.choices, n=1)
            return at.bad(f"is {json.dumps(s)}; it must be one of {', '.join(self.choices)}",
                          f"did you mean '{near[0]}'?" if near else f"e.g. {at.leaf}: {self.choices[0]}")
        if self.nonempty and not s:
            return at.bad("must not be empty", f"e.g. {at.leaf}: {self.example()}")
        if len(s) > self.max_len:
            return at.bad(f"is {len(s)} characters long; at most {self.max_len} are allowed",
                          "shorten it")
        if self.pattern and not re.fullmatch(self.pattern, s):
            return at.bad(f"is {json.dumps(s)}, which is not {self.what}",
                          f"e.g. {at.leaf}: {self.example()}")
        return s

    def describe(self) -> str:
        return f"one of {', '.join(self.choices)}" if self.choices else self.what

    def example(self) -> str:
        return self.sample or (self.choices[0] if self.choices else "NAME")


# Kernel pseudo filesystems: a state dir, temp root or audit file there is always a mistake.
PSEUDO_FS = ("/proc", "/sys", "/dev")


@dataclass(frozen=True)
class Path(Kind):
    """A filesystem path: absolute when asked, never inside /proc, /sys or /dev."""

    absolute: bool = False
    allow_empty: bool = False
    sample: str = "/var/lib/jibril-rules"

    def check(self, value: Any, at: At) -> Any:
        if not isinstance(value, str):
            return at.wrong_type("a path", value, f"write {at.leaf}: {self.sample}")
        s = str(value)
        if not s:
            return s if self.allow_empty else at.bad("must not be empty", f"e.g. {at.leaf}: {self.sample}")
        if "\0" in s:
            return at.bad("contains a NUL byte", "remove it")
        if self.absolute and not s.startswith("/"):
            return at.bad(f"is {json.dumps(s)}; it must be an absolute path",
                          f"start it with '/', e.g. {at.leaf}: {self.sample}")
        norm = "/" + "/".join(p for p in s.split("/") if p and p != ".")
        for pseudo in PSEUDO_FS:
            if s.startswith("/") and (norm == pseudo or norm.startswith(pseudo + "/")):
                return at.bad(f"is {json.dumps(s)}, inside the kernel's {pseudo} filesystem",
                              f"use a real directory, e.g. {at.leaf}: {self.sample}")
        return s

    def describe(self) -> str:
        return "an absolute path" if self.absolute else "a path"

    def example(self) -> str:
        return self.sample


@dataclass(frozen=True)
class Cidr(Kind):
    """An IPv4/IPv6 address or network in CIDR notation."""

    def check(self, value: Any, at: At) -> Any:
        if not isinstance(value, str):
            return at.wrong_type("a CIDR (quoted)", value, f"write e.g. \"10.0.0.0/8\" for {at.leaf}")
        try:
            return str(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            return at.bad(f"is {json.dumps(str(value))}, not an IP address or CIDR",
                          "write e.g. 10.0.0.0/8 or 2001:db8::/32")

    def describe(self) -> str:
        return "an IP address or CIDR"
