"""`jibril test`: recipe tests kept next to recipes (events -> expected detections and actions).

A test replays its events (`repeat` times, the engine and the reactions' data store carried
across runs) through the engine and, when it asserts anything about reactions, through a
rehearsal reactions runtime (monitor mode, scratch state: nothing acts on the host). Every
test in every file is counted: a malformed test fails with located errors. docs/testing.md.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bundle import Bundle
from ..compiler.driver import compile_ruleset
from ..compiler.ruleset import load_paths
from ..core.errors import Collector, Diagnostic, JibrilError, Span
from ..core.source import load_yaml, read_source, span_of
from ..runtime.engine import Engine
from ..runtime.events import EventError, normalize
from ..runtime.pipeline import Pipeline
from .replay import EventLine, read_events, resolve
from .testspec import ERROR_STATUSES, Call, Failure, TestCase, parse_test, tests_of


@dataclass
class Result:
    name: str
    span: Span
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def discover(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out += [str(f) for f in sorted(path.rglob("*.test.y*ml"))]
        elif path.name.endswith((".test.yaml", ".test.yml")):
            out.append(str(path))
    return out


def recipe_sources(paths: list[str]) -> list[str]:
    """The given paths (a test file: its folder) plus any `_shared` folder beside or above them."""
    paths = list(dict.fromkeys(str(Path(p).parent) if p.endswith((".test.yaml", ".test.yml")) else p
                               for p in paths))
    srcs = list(paths)
    for p in paths:
        d = Path(p).resolve()
        for parent in [d, *d.parents][:4]:
            shared = parent / "_shared"
            if shared.is_dir() and str(shared) not in srcs and not any(
                    str(shared).startswith(str(Path(s).resolve())) for s in paths):
                srcs.append(str(shared))
    return srcs


def run_tests(paths: list[str], reactions: bool = True) -> tuple[list[Result], list[Diagnostic]]:
    diags: list[Diagnostic] = []
    rs = load_paths(recipe_sources(paths))
    if not rs.ok:
        return [], [d for d in rs.diagnostics if d.severity.value == "error"]
    try:
        bundle = compile_ruleset(rs, include_disabled=True)
    except JibrilError as e:
        return [], e.diagnostics
    folder_of = {r.name: str(Path(r.span.file).resolve().parent) for r in bundle.recipes}
    names = frozenset(r.name for r in bundle.recipes)
    results: list[Result] = []
    for tf in discover(paths):
        col = Collector()
        src = read_source(tf, col)
        doc = load_yaml(src, col) if src else None
        tests = tests_of(doc, tf, col) if doc is not None or not col.errors else None
        if tests is None:
            diags += col.items
            results.append(Result(tf, Span(tf), ["the test file cannot be read (see the errors above)"]))
            continue
        for i, t in enumerate(tests):
            span = span_of(tests, i, Span(tf))
            before = len(col.errors)
            case = parse_test(t, span, names, col)
            if case is None or len(col.errors) > before:
                name = str(t.get("name")) if isinstance(t, dict) and t.get("name") else f"test at line {span.line}"
                results.append(Result(name, span, ["the test is malformed (see the errors above)"]))
                continue
            t0 = time.perf_counter()
            res = _run_one(tf, case, bundle, folder_of, reactions, col)
            res.seconds = time.perf_counter() - t0
            results.append(res)
        diags += col.items
    return results, diags


@dataclass(frozen=True)
class _Seen:
    """What one test observed: detections and reaction records, by event uuid and run."""

    detections: set[tuple[str, str, int]] = field(default_factory=set)  # recipe, uuid, run
    calls: list[tuple[str, str, int, str, tuple[Any, ...]]] = field(default_factory=list)
    records: list[tuple[str, str, int, str, str]] = field(default_factory=list)  # + status, error


def _events(tf: str, case: TestCase, diags: Collector) -> list[EventLine]:
    if isinstance(case.events, str):
        errs: list[Diagnostic] = []
        out = list(read_events(resolve(tf, case.events), errs))
        for d in errs:
            diags.items.append(d if d.code != "JR006" else Diagnostic(
                d.code, d.message, case.events_span, "the events file is relative to the test file"))
        return out
    lines = []
    for raw, span in case.events:
        try:
            lines.append(EventLine(span, normalize(dict(raw))))
        except EventError as e:  # the event's own line, not the previous one
            diags.add("JR090", f"malformed event: {e}", span, "see docs/design.md for the event schema")
    return lines


def _run_one(tf: str, case: TestCase, bundle: Bundle, folder_of: dict[str, str], reactions: bool,
             diags: Collector) -> Result:
    res = Result(case.name, case.span)
    before = len(diags.errors)
    events = _events(tf, case, diags)
    res.failures += [f"{d.span}: {d.message}" for d in diags.errors[before:]]
    seen = _Seen()
    where: list[tuple[str, int]] = [("", 0)]  # the event and run being fed
    with _rehearsal(reactions and case.needs_reactions) as runtime:
        # one engine and one runtime for every run: `times` caps and the data store carry over
        pipe = Pipeline(Engine(bundle), (), runtime,
                        on_records=lambda d, recs: _record(seen, d, recs, *where[0]))
        for run in range(1, case.repeat + 1):
            for el in events:
                uuid = str(el.event.get("uuid"))
                where[0] = (uuid, run)
                for d in pipe.feed(el.event, normalized=True):
                    seen.detections.add((d.recipe_name, uuid, run))
    res.failures += _check_detections(case, seen, folder_of, str(Path(tf).resolve().parent))
    if reactions and case.needs_reactions:
        res.failures += _check_reactions(case, seen)
    return res


@contextlib.contextmanager
def _rehearsal(needed: bool) -> Iterator[Any]:
    """Tests never act on the host: a rehearsal (monitor mode pinned, whatever a recipe's
    mode says; a scratch store removed afterwards; None: not needed), kept for the whole test."""
    if not needed:
        yield None
        return
    from ..reactions import Rehearsal
    with Rehearsal({"log_to_python": False}, prefix="jibril-test-") as rt:  # calls checked, not shown
        yield rt


def _record(seen: _Seen, d: Any, records: Any, uuid: str, run: int) -> None:
    for rec in records:
        seen.records.append((d.recipe_name, uuid, run, str(rec.status), str(rec.error or "")))
        for c in rec.calls:
            seen.calls.append((d.recipe_name, uuid, run, c.name, tuple(c.args)))


def _check_detections(case: TestCase, seen: _Seen, folder_of: dict[str, str], here: str) -> list[str]:
    fails: list[str] = []
    got: dict[str, set[str]] = {}
    for name, uuid, _ in seen.detections:
        got.setdefault(name, set()).add(uuid)
    expect = {name: set(uuids) for name, uuids, _ in case.expect}
    for name, wanted, span in case.expect:
        missing = set(wanted) - got.get(name, set())
        if missing:
            fails.append(f"{span}: {name} did not detect {sorted(missing)}")
    for name, uuids in sorted(got.items()):
        extra = uuids - expect.get(name, set())
        if extra and (name in expect or (case.strict and folder_of.get(name) == here)):
            fails.append(f"{name} unexpectedly detected {sorted(extra)}")
    for chk in case.per_event:
        by = {n for n, u, _ in seen.detections if u == chk.uuid}
        fails += [f"{chk.span}: event {chk.uuid}: {n} did not detect it" for n in chk.detect if n not in by]
        fails += [f"{chk.span}: event {chk.uuid}: {n} detected it" for n in chk.not_detect if n in by]
    return fails


def _matches(c: Call | Failure, recipe: str, uuid: str, run: int) -> bool:
    return (c.recipe == recipe and (c.event is None or c.event == uuid)
            and (c.run is None or c.run == run))


def _check_reactions(case: TestCase, seen: _Seen) -> list[str]:
    fails: list[str] = []
    def hit(w: Call, call: tuple[str, str, int, str, tuple[Any, ...]]) -> bool:
        r, u, n, helper, args = call
        return (_matches(w, r, u, n) and helper == w.helper
                and (w.args is None or list(w.args) == list(args)))
    for w in case.actions:
        if not any(hit(w, c) for c in seen.calls):
            saw = sorted({f"{h} (event {u}, run {n})" if case.repeat > 1 else f"{h} (event {u})"
                          for r, u, n, h, _ in seen.calls if r == w.recipe})
            fails.append(f"{w.span}: expected {w.text()}; saw {', '.join(saw) or 'no calls'}")
    for w in case.not_actions:
        bad = [c for c in seen.calls if hit(w, c)]
        if bad:
            r, u, n, h, a = bad[0]
            fails.append(f"{w.span}: {w.text()} must not happen; it did (event {u}, run {n}, "
                         f"args {list(a)})")
    failed = [x for x in seen.records if x[3] in ERROR_STATUSES]
    wanted = case.errors or ()

    def fits(f: Failure, rec: tuple[str, str, int, str, str]) -> bool:
        r, u, n, status, err = rec
        return (_matches(f, r, u, n) and (f.status in ("any", status))
                and (not f.message or f.message in err))
    for f in wanted:
        if not any(fits(f, rec) for rec in failed):
            fails.append(f"{f.span}: expected {f.text()}; "
                         + (f"saw {', '.join(sorted({x[3] for x in failed}))}" if failed else "every reaction succeeded"))
    for rec in failed:
        if not any(fits(f, rec) for f in wanted):
            r, u, n, status, err = rec
            fails.append(f"reaction of {r} on event {u} (run {n}) ended with {status}: {err}"
                         " (list it under errors: if it is expected)")
    return fails
