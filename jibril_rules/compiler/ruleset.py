"""Read recipe files and folders into a checked set of recipes, collecting every diagnostic."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import Collector, Diagnostic, Span
from ..core.source import LList, LMap, SourceFile, load_yaml, read_source, span_of
from . import ast as A
from .lower import Lowerer
from .recipe import Exception_, Recipe
from .salvage import Salvaged, salvage
from .satisfy import check_satisfiable
from .schema import entry_type, validate
from .typecheck import Checker, Env

RECIPE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Ruleset:
    recipes: tuple[Recipe, ...]
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, SourceFile] = field(default_factory=dict, compare=False)
    # Recipes whose structure is broken: checked (when:, values, reactions) but never compiled.
    salvaged: tuple[Recipe, ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        return not any(d.severity.value == "error" for d in self.diagnostics)

    def by_name(self, name: str) -> Recipe | None:
        return next((r for r in self.recipes if r.name == name), None)


def expand_paths(paths: list[str], diags: Collector) -> list[str]:
    """Files as given; folders read recursively (recipe tests *.test.yaml excluded)."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if p == "-":  # standard input (core.source.read_source)
            out.append(p)
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix in RECIPE_SUFFIXES and not _is_aux(f):
                    out.append(str(f))
        elif path.exists():
            out.append(str(path))
        else:
            diags.add("JR006", f"no such file or folder: {p}", Span(p), "check the path")
    return list(dict.fromkeys(out))


def _is_aux(f: Path) -> bool:
    return f.name.endswith((".test.yaml", ".test.yml")) or f.name in ("jibril.yaml", "config.yaml")


Entry = tuple[SourceFile, LMap, str]  # source, validated mapping, entry type


@dataclass
class Collected:
    """Stage 2 output: names defined, recipes and exceptions lowered (not yet resolved)."""

    env: Env
    checker: Checker
    recipes: list[Recipe]
    exceptions: dict[str, list[tuple[Exception_, LMap]]]  # by recipe name
    salvaged: list[Recipe] = field(default_factory=list)  # broken structure: checked only


def load_paths(paths: list[str]) -> Ruleset:
    """read -> collect -> resolve (Falco's rule_loader reader / collector / compiler)."""
    diags = Collector()
    files, sources, entries = read(paths, diags)
    got = collect(entries, diags)
    if got is None:
        diags.add("JR044", "macros refer to each other too deeply (more than ~900 levels)",
                  Span(files[0] if files else "<input>"), "flatten the chain of macros")
        return Ruleset((), tuple(diags.items), sources)
    return Ruleset(resolve(got, diags), tuple(diags.items), sources, tuple(got.salvaged))


def read(paths: list[str], diags: Collector) -> tuple[list[str], dict[str, SourceFile], list[Entry]]:
    """Stage 1: files -> YAML with spans -> entries whose structure is valid (schema)."""
    files = expand_paths(paths, diags)
    sources: dict[str, SourceFile] = {}
    entries: list[Entry] = []
    for path in files:
        src = read_source(path, diags)
        if src is None:
            continue
        sources[src.path] = src
        doc = load_yaml(src, diags)
        if doc is None:
            continue
        if not isinstance(doc, LList):
            diags.add("JR010", "a recipe file must be a YAML list of recipes", span_of(doc, None, Span(path)),
                      "start each recipe with '- kind: ...'")
            continue
        for i, entry in enumerate(doc):
            if not isinstance(entry, LMap):
                diags.add("JR011", "each list entry must be a mapping (a recipe, list, macro or exception)",
                          span_of(doc, i), "write 'key: value' lines under '- '")
                continue
            if validate(entry, diags):
                entries.append((src, entry, entry_type(entry)))
            else:  # collect-all: the well-formed rest is still checked, never compiled
                rest = salvage(entry)
                if rest is not None:
                    entries.append((src, rest, entry_type(rest)))
    return files, sources, entries


def collect(entries: list[Entry], diags: Collector) -> Collected | None:
    """Stage 2: lists and macros by name, recipes and exceptions lowered to the AST.

    None when macros nest too deeply to check.
    """
    env = Env()
    checker = Checker(env, diags)
    _collect_names(entries, env, diags)
    try:
        checker.check_macros()
    except RecursionError:
        return None
    recipes: list[Recipe] = []
    salvaged: list[Recipe] = []
    seen: dict[str, Span] = {}
    extra: dict[str, list[tuple[Exception_, LMap]]] = {}
    for src, e, kind in entries:
        low = Lowerer(src, diags)
        broken = isinstance(e, Salvaged)
        if kind == "exception":
            exc = low.exception(e, str(e["exception"]))
            if broken:
                _check_only(checker, exc.condition, diags, exc.span)
            else:
                extra.setdefault(str(e["recipe"]), []).append((exc, e))
        elif kind == "recipe":
            r = low.recipe(e)
            for node in low.dead:  # folded away while lowering, still type-checked
                _check_only(checker, node, diags, r.span)
            if broken:
                for node in (r.condition, *(x.condition for x in r.exceptions)):
                    _check_only(checker, node, diags, r.span)
                salvaged.append(r)
                continue
            if r.name in seen:
                diags.add("JR050", f"recipe name '{r.name}' is already used at {seen[r.name]}",
                          span_of(e, "name"), "give every recipe a unique name")
                continue
            seen[r.name] = span_of(e, "name")
            recipes.append(r)
    return Collected(env, checker, recipes, extra, salvaged)


def resolve(got: Collected, diags: Collector) -> tuple[Recipe, ...]:
    """Stage 3: exceptions attached, macros and lists resolved, contradictions reported."""
    out: list[Recipe] = []
    names = {r.name for r in got.recipes}
    for rname, lst in got.exceptions.items():
        if rname not in names:
            for exc, e in lst:
                diags.add("JR051", f"exception '{e['exception']}' names unknown recipe '{rname}'",
                          span_of(e, "recipe"), "check the recipe name")
                _check_only(got.checker, exc.condition, diags, exc.span)
    for r in got.recipes:
        excs = r.exceptions + tuple(x for x, _ in got.exceptions.get(r.name, []))
        try:
            cond = got.checker.resolve(r.condition)
            excs = tuple(Exception_(x.name, got.checker.resolve(x.condition), x.span) for x in excs)
        except RecursionError:
            diags.add("JR044", f"recipe '{r.name}' nests macros too deeply", r.span,
                      "flatten the chain of macros")
            continue
        rec = Recipe(r.kind, r.name, r.mechanism, cond, excs, r.reactions, r.times,
                     r.enabled, r.mode, r.meta, r.span, r.prevent, r.prevent_span)
        check_satisfiable(rec, diags)
        out.append(rec)
    return tuple(out)


def _check_only(checker: Checker, node: A.Node, diags: Collector, span: Span) -> None:
    """Type-check a condition for its diagnostics only (it is never compiled)."""
    try:
        checker.resolve(node)
    except RecursionError:
        diags.add("JR044", "macros nest too deeply", span, "flatten the chain of macros")


def _collect_names(entries: list[tuple[SourceFile, LMap, str]], env: Env, diags: Collector) -> None:
    for src, e, kind in entries:
        if kind not in ("list", "macro"):
            continue
        name, span = str(e[kind]), span_of(e, kind)
        table: dict[str, Any] = env.lists if kind == "list" else env.macros
        if name in table:
            diags.add("JR050", f"{kind} '{name}' is already defined at {table[name][1]}", span,
                      "rename one of them")
        elif kind == "list":
            env.lists[name] = (tuple(e["items"]), span)
        else:
            env.macros[name] = (Lowerer(src, diags).macro(e), span)
