"""The compile driver: checked recipes -> IR -> kernel tables + decision tree -> Bundle."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from ..bundle import Bundle, CompiledRecipe, body_json, hash_of, is_bundle_path, read, recipe_hash
from ..core.errors import Collector, JibrilError
from . import ast as A
from . import prevent
from .index import build_tree
from .ir import build
from .recipe import Recipe
from .ruleset import Ruleset, load_paths
from .split import build_tables


def compile_ruleset(rs: Ruleset, include_disabled: bool = False) -> Bundle:
    """AST -> IR -> (kernel tables + decision tree) -> Bundle."""
    if not rs.ok:
        raise JibrilError([d for d in rs.diagnostics if d.severity.value == "error"])
    active: tuple[Recipe, ...] = tuple(r for r in rs.recipes if r.enabled or include_disabled)
    irs, table = build(active)
    diags = Collector(list(rs.diagnostics))
    tables = build_tables(irs, table.atoms, diags, [r.span for r in active])
    entries = []
    for r, ir in zip(active, irs, strict=True):
        if r.prevent:
            sels = prevent.check(r.name, r.prevent, ir.cond, list(table.atoms),
                                 tuple(x.name for x in r.exceptions), bool(r.times),
                                 r.prevent_span or r.span, diags)
            entries += [(k, key, ir.index, r.prevent) for k, key in sels]
    if diags.errors:
        raise JibrilError(diags.errors)
    if entries:
        tables = replace(tables, prevent=tuple(sorted(set(entries))))
    tree = build_tree(irs, table.atoms)
    recipes = []
    for r, ir in zip(active, irs, strict=True):
        c = CompiledRecipe(ir.index, r.name, r.kind, r.mechanism, dict(r.meta),
                           tuple((t.kind, t.max) for t in r.times), r.reactions, r.mode, r.span,
                           A.render(r.condition), "", ir, r.prevent)
        recipes.append(CompiledRecipe(c.index, c.name, c.kind, c.mechanism, c.meta, c.times,
                                      c.reactions, c.mode, c.span, c.condition_text,
                                      recipe_hash(c), ir, r.prevent))
    partial = Bundle(tuple(recipes), tuple(table.atoms), tables, tree, "", tuple(diags.items))
    return Bundle(partial.recipes, partial.atoms, tables, tree, hash_of(body_json(partial)),
                  partial.diagnostics)


def load_any(paths: list[str], include_disabled: bool = False) -> Bundle:
    """Load a bundle file, or compile recipe files/folders; raise JibrilError on problems."""
    if len(paths) == 1 and Path(paths[0]).is_file() and is_bundle_path(paths[0]):
        return read(paths[0])
    return compile_ruleset(load_paths(paths), include_disabled)


def child_main() -> None:
    """Entry of the compiler child process run by runtime/loading.py (bundle bytes on stdout)."""
    paths, include_disabled = json.loads(sys.argv[1]), sys.argv[2] == "1"
    try:
        data = load_any(paths, include_disabled).to_bytes()
    except JibrilError as e:
        sys.stderr.write(json.dumps([d.to_json() for d in e.diagnostics]))
        sys.exit(1)
    sys.stdout.buffer.write(data)
