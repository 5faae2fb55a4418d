"""`jibril test`: recipe tests kept next to recipes (events -> expected detections and actions)."""

from __future__ import annotations

import contextlib
import difflib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bundle import Bundle
from ..compiler.driver import compile_ruleset
from ..compiler.ruleset import load_paths
from ..core.errors import Collector, Diagnostic, JibrilError, Span
from ..core.source import LList, LMap, key_span, load_yaml, read_source, span_of
from ..runtime.engine import Detection, Engine
from ..runtime.pipeline import Pipeline, reaction_runtime
from .replay import EventLine, inline_events, read_events, resolve

if TYPE_CHECKING:
    from ..reactions import ExecutionRecord, ReactionRuntime


@dataclass
class Result:
    name: str
    span: Span
    failures: list[str] = field(default_factory=list)

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
    """The given paths plus any `_shared` folder beside or above them (lists and macros)."""
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
    results: list[Result] = []
    for tf in discover(paths):
        col = Collector()
        src = read_source(tf, col)
        doc = load_yaml(src, col) if src else None
        diags += col.items
        tests = doc.get("tests") if isinstance(doc, LMap) else None
        if not isinstance(tests, LList):
            if doc is not None:
                diags.append(Diagnostic("JR023", "a test file needs a 'tests:' list", span_of(doc, None, Span(tf)),
                                        "see docs/design.md 'Recipe tests'"))
            continue
        for i, t in enumerate(tests):
            if not isinstance(t, LMap):
                diags.append(Diagnostic("JR011", "each test must be a mapping", span_of(tests, i),
                                        "write name:, events:, expect: under '- '"))
                continue
            bad = _check_keys(t)
            diags += bad
            if not bad:
                results.append(_run_one(tf, t, span_of(tests, i), bundle, folder_of, reactions, diags))
    return results, diags


TEST_KEYS = ("name", "events", "expect", "strict", "actions", "description")
ACTION_KEYS = ("recipe", "helper", "args")


def _check_keys(t: LMap) -> list[Diagnostic]:
    """Unknown keys in a test (a typo like `expects:` would silently test nothing)."""
    out = []
    for k in t:
        if k not in TEST_KEYS:
            near = difflib.get_close_matches(k, TEST_KEYS, n=1)
            out.append(Diagnostic("JR020", f"unknown test key '{k}'", key_span(t, k),
                                  f"did you mean '{near[0]}'?" if near else "valid: " + ", ".join(TEST_KEYS)))
    for i, a in enumerate(t.get("actions") or []):
        if not isinstance(a, LMap) or "recipe" not in a or "helper" not in a:
            out.append(Diagnostic("JR023", "an expected action needs 'recipe' and 'helper'",
                                  span_of(t["actions"], i), "e.g. {recipe: NAME, helper: KillCurrent}"))
            continue
        for k in a:
            if k not in ACTION_KEYS:
                out.append(Diagnostic("JR020", f"unknown action key '{k}'", key_span(a, k),
                                      "valid: recipe, helper, args"))
    if "expect" in t and not isinstance(t["expect"], dict):
        out.append(Diagnostic("JR021", "'expect' must map recipe names to event uuids",
                              span_of(t, "expect"), "e.g. expect: {my_recipe: [event-1]}"))
    return out


def _run_one(tf: str, t: LMap, span: Span, bundle: Bundle, folder_of: dict[str, str],
             reactions: bool, diags: list[Diagnostic]) -> Result:
    res = Result(str(t.get("name") or f"test at line {span.line}"), span)
    errs: list[Diagnostic] = []
    ev_spec = t.get("events")
    events: list[EventLine]
    if isinstance(ev_spec, str):
        events = list(read_events(resolve(tf, ev_spec), errs))
    elif isinstance(ev_spec, list):
        events = inline_events(list(ev_spec), span_of(t, "events"), errs)
    else:
        events = []
        res.failures.append("'events' must be a file name or a list of events")
    diags += errs
    res.failures += [f"{d.span}: {d.message}" for d in errs]
    expect: dict[str, set[str]] = {str(k): {str(u) for u in (v or [])}
                                    for k, v in (t.get("expect") or {}).items()}
    for name in expect:
        if bundle.by_name(name) is None:
            res.failures.append(f"expect names unknown recipe '{name}'")
    strict = t.get("strict", True) is not False
    here = str(Path(tf).resolve().parent)
    wanted = list(t.get("actions") or [])
    calls: dict[str, list[tuple[str, list[Any]]]] = {}
    got: dict[str, set[str]] = {}
    with _rehearsal(bool(wanted and reactions)) as runtime:
        pipe = Pipeline(Engine(bundle), (), runtime,
                        on_records=lambda d, recs: _record_calls(calls, d, recs))
        for el in events:
            for d in pipe.feed(el.event, normalized=True):
                got.setdefault(d.recipe_name, set()).add(str(el.event.get("uuid")))
    for name, uuids in expect.items():
        missing = uuids - got.get(name, set())
        if missing:
            res.failures.append(f"{name} did not detect {sorted(missing)}")
    for name, uuids in got.items():
        extra = uuids - expect.get(name, set())
        if extra and (name in expect or (strict and folder_of.get(name) == here)):
            res.failures.append(f"{name} unexpectedly detected {sorted(extra)}")
    if wanted and reactions:
        res.failures += _check_actions(wanted, calls)
    return res


@contextlib.contextmanager
def _rehearsal(needed: bool) -> Iterator[ReactionRuntime | None]:
    """A monitor-mode reactions runtime whose state lives in a temp folder (None: not needed)."""
    if not needed:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="jibril-test-") as tmp:
        rt = reaction_runtime({"mode": "monitor", "state_dir": tmp + "/state", "temp_root": tmp,
                               "audit_path": tmp + "/audit.jsonl"})
        try:
            yield rt
        finally:
            rt.close()


def _record_calls(calls: dict[str, list[tuple[str, list[Any]]]], d: Detection,
                  records: Sequence[ExecutionRecord]) -> None:
    for rec in records:
        for c in rec.calls:
            calls.setdefault(d.recipe_name, []).append((c.name, list(c.args)))


def _check_actions(wanted: list[Any], calls: dict[str, list[tuple[str, list[Any]]]]) -> list[str]:
    fails: list[str] = []
    for w in wanted:
        name, helper = str(w.get("recipe")), str(w.get("helper"))
        args = w.get("args")
        ok = any(h == helper and (args is None or list(args) == a) for h, a in calls.get(name, []))
        if not ok:
            seen = sorted({h for h, _ in calls.get(name, [])})
            fails.append(f"{name}: expected a {helper}({'' if args is None else args}) call; saw {seen}")
    return fails
