"""A small typed, declarative schema for settings files: every error collected and located.

`jibril.yaml` is read by the agent at start, so this must not pull in the recipe compiler
(cerberus, lark): it is plain Python over the located values of `source.load_yaml`.

A section is a table of `Field(name, kind, default, doc)`; kinds are strict (a quoted
"false" is no boolean, a scalar is no list, `true` is no number) and bounded. `validate`
walks a document against a section, adds one diagnostic per problem (JR020 unknown key,
JR021 wrong type, JR022 bad value) at the value's line:column with a hint, and returns the
checked values, converted (lists become tuples). The scalar kinds live in confkinds.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .confkinds import (
    INVALID,
    At,
    Bool,
    Cidr,
    Float,
    Int,
    Kind,
    Path,
    Str,
    _yaml_text,
    describe_value,
)
from .errors import Collector, Span
from .source import LMap, key_span, span_of


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
