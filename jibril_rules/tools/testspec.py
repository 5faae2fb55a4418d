"""The recipe-test file format (`*.test.yaml`), type-checked with located errors.

One declarative schema (core/confschema) turns a test file into frozen `TestCase`s: a scalar
where a list belongs (`expect: {r: "uuid-1"}`), an unknown key or a recipe name that does
not exist is an error at its line:column (with the nearest recipe name), never a test that
silently checks nothing. See docs/testing.md.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ..core.confschema import (
    INVALID,
    AnyValue,
    At,
    Bool,
    Field,
    Int,
    Kind,
    ListOf,
    MapOf,
    OneOf,
    Section,
    Str,
)
from ..core.errors import Collector, Span
from ..core.source import LList, LMap, span_of

MAX_REPEAT = 1000
ERROR_STATUSES = ("error", "timeout", "memory")  # a reaction that failed (rate_limited/deduped did not)
STATUSES = (*ERROR_STATUSES, "any")


@dataclass(frozen=True)
class Located(Kind):
    """Keep the value's span next to the checked value: (value, span)."""

    inner: Kind

    def check(self, value: Any, at: At) -> Any:
        got = self.inner.check(value, at)
        return INVALID if got is INVALID else (got, getattr(value, "span", at.span))

    def describe(self) -> str:
        return self.inner.describe()

    def example(self) -> str:
        return self.inner.example()


@dataclass(frozen=True)
class Uuid(Kind):
    """An event uuid: a string (a plain number is accepted and read as its digits)."""

    def check(self, value: Any, at: At) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return at.wrong_type("an event uuid", value, f"write {at.leaf}: [my-event-1]")
        return str(value)

    def describe(self) -> str:
        return "an event uuid"

    def example(self) -> str:
        return "[evt-1]"


@dataclass(frozen=True)
class RecipeName(Kind):
    """A recipe of the tested folders; a typo is an error naming the nearest recipe."""

    known: frozenset[str]

    def check(self, value: Any, at: At) -> Any:
        if not isinstance(value, str):
            return at.wrong_type("a recipe name", value, "write the recipe's name:")
        if str(value) not in self.known:
            near = difflib.get_close_matches(str(value), sorted(self.known), n=1)
            at.diags.add("JR052", f"'{at.path}' names unknown recipe '{value}'", at.span,
                         f"did you mean '{near[0]}'?" if near else "check the recipe's name:")
            return INVALID
        return str(value)

    def describe(self) -> str:
        return "a recipe name"

    def example(self) -> str:
        return "my_recipe"


@dataclass(frozen=True)
class Raw(Kind):
    """An inline event: any mapping, kept as located YAML (normalised later, with its span)."""

    def check(self, value: Any, at: At) -> Any:
        if not isinstance(value, dict):
            return at.wrong_type("an event (a mapping)", value,
                                 "write {uuid: e1, process: {...}, file: {...}}")
        return value

    def describe(self) -> str:
        return "an event"


def _schema(recipes: frozenset[str]) -> Section:
    name = Located(RecipeName(recipes))
    when = (Field("event", Located(Uuid()), None, "only calls made for this event uuid"),
            Field("run", Int(1, MAX_REPEAT), None, "only calls of this replay (1 = the first)"))
    action = Section((Field("recipe", name, required=True),
                      Field("helper", Str(pattern=r"[A-Za-z_$][A-Za-z0-9_$]*", what="a helper name",
                                          sample="KillCurrent"), required=True),
                      Field("args", ListOf(AnyValue())), *when))
    error = Section((Field("recipe", name, required=True),
                     Field("status", Str(choices=STATUSES), "any"),
                     Field("message", Str(sample="TypeError")), *when))
    per_event = Section((Field("detect", ListOf(name)), Field("not_detect", ListOf(name)),
                         Field("actions", ListOf(Located(action))),
                         Field("not_actions", ListOf(Located(action))),
                         Field("errors", ListOf(Located(error)))))
    events = OneOf(((lambda v: isinstance(v, str), Str(nonempty=True, sample="events.jsonl")),
                    (lambda v: True, ListOf(Raw()))), "a file name or a list of events")
    test = Section((
        Field("name", Str(nonempty=True, sample="a miner is detected and killed"), required=True),
        Field("description", Str()),
        Field("events", events, required=True),
        Field("repeat", Int(1, MAX_REPEAT), 1, "the events replayed N times, the store carried"),
        Field("expect", MapOf(name, ListOf(Uuid()))),
        Field("strict", Bool(), True),
        Field("actions", ListOf(Located(action))),
        Field("not_actions", ListOf(Located(action))),
        Field("errors", ListOf(Located(error))),
        Field("per_event", MapOf(Uuid(), Located(per_event))),
    ))
    return test


@dataclass(frozen=True)
class Call:
    """An expected (or forbidden) helper call; None fields match anything."""

    recipe: str
    helper: str
    args: tuple[Any, ...] | None
    event: str | None
    run: int | None
    span: Span

    def text(self) -> str:
        a = "" if self.args is None else ", ".join(repr(x) for x in self.args)
        where = (f" on event {self.event}" if self.event else "") + (f" in run {self.run}" if self.run else "")
        return f"{self.helper}({a}) by {self.recipe}{where}"


@dataclass(frozen=True)
class Failure:
    """An expected reaction failure: its recipe, status (any failure by default), message part."""

    recipe: str
    status: str
    message: str | None
    event: str | None
    run: int | None
    span: Span

    def text(self) -> str:
        what = "a failed reaction" if self.status == "any" else f"a reaction {self.status}"
        where = (f" on event {self.event}" if self.event else "") + (f" in run {self.run}" if self.run else "")
        msg = f" with {self.message!r}" if self.message else ""
        return f"{what} of {self.recipe}{where}{msg}"


@dataclass(frozen=True)
class EventCheck:
    uuid: str
    detect: tuple[str, ...]
    not_detect: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class TestCase:
    name: str
    span: Span
    events: str | tuple[tuple[LMap, Span], ...]  # a file name, or inline events with their spans
    events_span: Span
    repeat: int
    expect: tuple[tuple[str, tuple[str, ...], Span], ...]  # recipe, uuids, where
    strict: bool
    actions: tuple[Call, ...]
    not_actions: tuple[Call, ...]
    errors: tuple[Failure, ...] | None  # None: no `errors:` key (no reaction may fail)
    per_event: tuple[EventCheck, ...]

    @property
    def needs_reactions(self) -> bool:
        return bool(self.actions or self.not_actions or self.errors is not None)


def parse_test(t: Any, span: Span, recipes: frozenset[str], diags: Collector) -> TestCase | None:
    """One entry of `tests:`; None (after located diagnostics) when it is not well-formed."""
    at = At("test", span, diags)
    got = _schema(recipes).check(t, at)
    if got is INVALID:
        return None
    calls = _calls(got.get("actions"))
    forbidden = _calls(got.get("not_actions"))
    errors = _failures(got.get("errors")) if "errors" in got else None
    checks: list[EventCheck] = []
    for uuid, (pe, pspan) in (got.get("per_event") or {}).items():
        calls += _calls(pe.get("actions"), uuid)
        forbidden += _calls(pe.get("not_actions"), uuid)
        if "errors" in pe:
            errors = (errors or ()) + _failures(pe["errors"], uuid)
        checks.append(EventCheck(uuid, tuple(n for n, _ in pe.get("detect") or ()),
                                 tuple(n for n, _ in pe.get("not_detect") or ()), pspan))
    ev = got["events"]
    raw_events = t.get("events") if isinstance(t, LMap) else None
    events: str | tuple[tuple[LMap, Span], ...] = ev if isinstance(ev, str) else tuple(
        (e, span_of(raw_events, i, span)) for i, e in enumerate(ev))
    expect = tuple((name, tuple(uuids), nspan) for (name, nspan), uuids in (got.get("expect") or {}).items())
    return TestCase(str(got["name"]), span, events, span_of(t, "events", span), int(got.get("repeat", 1)),
                    expect, bool(got.get("strict", True)), calls, forbidden, errors, tuple(checks))


def _calls(items: Any, event: str | None = None) -> tuple[Call, ...]:
    out = []
    for a, span in items or ():
        recipe = a["recipe"][0]
        ev = a["event"][0] if a.get("event") else event
        args = tuple(a["args"]) if a.get("args") is not None else None
        out.append(Call(recipe, str(a["helper"]), args, ev, a.get("run"), span))
    return tuple(out)


def _failures(items: Any, event: str | None = None) -> tuple[Failure, ...]:
    out = []
    for a, span in items or ():
        ev = a["event"][0] if a.get("event") else event
        out.append(Failure(a["recipe"][0], str(a.get("status", "any")), a.get("message"), ev,
                           a.get("run"), span))
    return tuple(out)


def tests_of(doc: Any, path: str, diags: Collector) -> LList | None:
    """The `tests:` list of a test file, or None after a located diagnostic."""
    if isinstance(doc, LMap):
        for k in doc:
            if k != "tests":
                near = difflib.get_close_matches(str(k), ["tests"], n=1, cutoff=0.4)
                diags.add("JR020", f"unknown key '{k}' in a test file", doc.key_spans[k],
                          "did you mean 'tests'?" if near else "a test file has one key: tests")
        if isinstance(doc.get("tests"), LList):
            return doc["tests"]  # type: ignore[no-any-return]
    diags.add("JR023", "a test file needs a 'tests:' list", span_of(doc, "tests", Span(path)),
              "see docs/testing.md")
    return None
