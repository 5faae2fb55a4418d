"""A small typed, declarative schema for settings files: every error collected and located.

`jibril.yaml` is read by the agent at start, so this must not pull in the recipe compiler
(cerberus, lark): it is plain Python over the located values of `source.load_yaml`.

A section is a table of `Field(name, kind, default, doc)`; kinds are strict (a quoted
"false" is no boolean, a scalar is no list, `true` is no number) and bounded. `validate`
walks a document against a section, adds one diagnostic per problem (JR020 unknown key,
JR021 wrong type, JR022 bad value) at the value's line:column with a hint, and returns the
checked values, converted (lists become tuples).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Collector, Span
from .source import LMap, key_span, span_of


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


@dataclass(frozen=True)
class Nullable(Kind):
    inner: Kind

    def check(self, value: Any, at: At) -> Any:
        return None if value is None else self.inner.check(value, at)

    def describe(self) -> str:
        return f"{self.inner.describe()} or null"

    def example(self) -> str:
        return self.inner.example()


@dataclass(frozen=True)
class ListOf(Kind):
    """A YAML list (never a scalar: `writable_roots: /tmp/x` is an error, not characters)."""

    item: Kind
    max_items: int = 10_000
    unique: bool = False

    def check(self, value: Any, at: At) -> Any:
        if not isinstance(value, (list, tuple)):
            sample = _yaml_text(value) if isinstance(value, (str, int, float)) else self.item.example()
            return at.wrong_type(f"a list of {_plural(self.item.describe())}", value,
                                 f"write {at.leaf}: [{sample}]")
        if len(value) > self.max_items:
            return at.bad(f"has {len(value)} items; at most {self.max_items} are allowed", "shorten it")
        out: list[Any] = []
        ok = True
        for i, v in enumerate(value):
            got = self.item.check(v, at.child(i, span_of(value, i, at.span)))
            ok &= got is not INVALID
            if got is not INVALID and not (self.unique and got in out):
                out.append(got)
        return tuple(out) if ok else INVALID

    def describe(self) -> str:
        return f"a list of {_plural(self.item.describe())}"

    def example(self) -> str:
        return f"[{self.item.example()}]"


def _plural(text: str) -> str:
    """'an absolute path' -> 'absolute paths'; 'a name (no /)' -> 'names (no /)'."""
    for art in ("an ", "a "):
        if text.startswith(art):
            text = text[len(art):]
            head, sep, rest = text.partition(" (")
            return head + ("" if head.endswith("s") else "s") + sep + rest
    return text


@dataclass(frozen=True)
class Field:
    """One key of a section."""

    name: str
    kind: Kind
    default: Any = None
    doc: str = ""
    required: bool = False


@dataclass(frozen=True)
class Section(Kind):
    """A mapping with known keys; `dashes` lets `queue-size` stand for `queue_size`."""

    fields: tuple[Field, ...]
    doc: str = ""
    dashes: bool = True
    # rules across fields, run when every field passed: rule(raw mapping, checked values, at)
    rules: tuple[Callable[[Any, dict[str, Any], At], None], ...] = ()

    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def check(self, value: Any, at: At) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return at.wrong_type("a mapping", value,
                                 f"write '{at.leaf}:' and indent its keys below it (see docs/config.md)")
        known = self.by_name()
        out: dict[str, Any] = {}
        ok = True
        for raw_key, v in value.items():
            key = str(raw_key).replace("-", "_") if self.dashes else str(raw_key)
            f = known.get(key)
            kspan = key_span(value, str(raw_key)) if isinstance(value, LMap) else at.span
            where = f"{at.path}.{raw_key}" if at.path else str(raw_key)
            if f is None:
                near = difflib.get_close_matches(key, list(known), n=1)
                at.diags.add("JR020", f"unknown key '{where}'", kspan,
                             f"did you mean '{near[0]}'?" if near else
                             "valid keys: " + ", ".join(sorted(known)))
                ok = False
                continue
            if key in out:
                at.diags.add("JR020", f"'{where}' is given twice", kspan, "keep one of them")
                ok = False
                continue
            got = f.kind.check(v, at.child(key, span_of(value, str(raw_key), at.span), f.default))
            if got is INVALID:
                ok = False
            else:
                out[key] = got
        for f in self.fields:
            if f.required and f.name not in out and not any(
                    str(k).replace("-", "_") == f.name for k in value):
                where = f"{at.path}.{f.name}" if at.path else f.name
                at.diags.add("JR023", f"'{where}' is required", at.span,
                             f"add '{f.name}:' here, e.g. {f.name}: {f.kind.example()}")
                ok = False
        if ok:
            before = len(at.diags.errors)
            for rule in self.rules:
                rule(value, out, at)
            ok = len(at.diags.errors) == before
        return out if ok else INVALID

    def defaults(self) -> dict[str, Any]:
        return {f.name: (f.kind.defaults() if isinstance(f.kind, Section) else f.default)
                for f in self.fields}

    def describe(self) -> str:
        return "a mapping"


@dataclass(frozen=True)
class MapOf(Kind):
    """A mapping with free keys (e.g. recipe name -> event uuids): each key and value checked."""

    key: Kind
    value: Kind
    max_items: int = 10_000

    def check(self, value: Any, at: At) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            return at.wrong_type(f"a mapping of {_plural(self.key.describe())} to "
                                 f"{_plural(self.value.describe())}", value,
                                 f"write {at.leaf}: {{{self.key.example()}: {self.value.example()}}}")
        if len(value) > self.max_items:
            return at.bad(f"has {len(value)} entries; at most {self.max_items} are allowed", "shorten it")
        out: dict[Any, Any] = {}
        ok = True
        for k, v in value.items():
            kspan = key_span(value, str(k)) if isinstance(value, LMap) else at.span
            kk = self.key.check(k, at.child(str(k), kspan))
            vv = self.value.check(v, at.child(str(k), span_of(value, str(k), at.span)))
            if kk is INVALID or vv is INVALID:
                ok = False
            else:
                out[kk] = vv
        return out if ok else INVALID

    def describe(self) -> str:
        return "a mapping"


@dataclass(frozen=True)
class AnyValue(Kind):
    """Any YAML value, as plain Python (strings, numbers, booleans, lists, mappings)."""

    def check(self, value: Any, at: At) -> Any:
        return plain(value)

    def describe(self) -> str:
        return "a value"


def plain(v: Any) -> Any:
    """Located YAML values (LStr, LList, LMap) as plain str, list and dict."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class OneOf(Kind):
    """A value accepted by the first kind whose `accepts` test passes (e.g. string or mapping)."""

    options: tuple[tuple[Callable[[Any], bool], Kind], ...]
    what: str

    def check(self, value: Any, at: At) -> Any:
        for accepts, kind in self.options:
            if accepts(value):
                return kind.check(value, at)
        return at.wrong_type(self.what, value, f"see docs/config.md for {at.leaf}")

    def describe(self) -> str:
        return self.what


def validate(doc: Any, schema: Section, diags: Collector, root: Span) -> dict[str, Any] | None:
    """The checked values of `doc` (None when any problem was reported)."""
    if doc is not None and not isinstance(doc, Mapping):
        diags.add("JR021", f"the file must be a mapping of settings, not {describe_value(doc)}",
                  span_of(doc, None, root), "write 'key: value' lines, see docs/config.md")
        return None
    before = len(diags.errors)
    got = schema.check(doc if doc is not None else LMap(), At("", getattr(doc, "span", root), diags))
    if got is INVALID or len(diags.errors) > before:
        return None
    return dict(got)


__all__ = ["INVALID", "AnyValue", "At", "Bool", "Cidr", "Field", "Float", "Int", "Kind", "ListOf",
           "MapOf", "Nullable", "OneOf", "plain", "Path", "Section", "Str", "describe_value", "validate"]
