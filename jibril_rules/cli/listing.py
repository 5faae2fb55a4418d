"""`jibril list recipes|fields|operators|helpers|codes|printers`: what exists, from the registries
that also generate the reference pages (Falco's `-L`/`--list`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from .app import print_diags, recipe_sources
from .conventions import command, opts

Rows = list[dict[str, Any]]


def recipe_rows(source: tuple[str, ...]) -> Rows:
    from ..compiler.ruleset import load_paths
    cfg = opts().config()
    rs = load_paths(recipe_sources(source))
    if not rs.ok:
        print_diags([d for d in rs.diagnostics if d.severity.value == "error"], rs.sources)
        sys.exit(1)
    default_mode = str(cfg.reactions.get("mode", "monitor"))
    rows = []
    for r in rs.recipes:
        meta = dict(r.meta)
        rows.append({"name": r.name, "kind": r.kind, "mechanism": r.mechanism,
                     "importance": meta.get("importance", ""), "enabled": r.enabled,
                     "mode": r.mode or default_mode, "mode_from": "recipe" if r.mode else "config",
                     "reactions": len(r.reactions), "file": r.span.file, "line": r.span.line})
    return rows


def field_rows() -> Rows:
    from ..core.fields import FIELDS
    return [{"name": f.name, "type": f.type.value, "kinds": sorted(f.kinds), "kernel": f.kernel or "",
             "doc": f.doc} for f in FIELDS.values()]


def operator_rows() -> Rows:
    from ..core.ops import OPS
    return [{"operator": o.op.value, "applies_to": sorted(t.value for t in o.scalar_types),
             "value": o.value, "doc": o.doc} for o in OPS.values()]


_HELPER_GROUPS = (("Kill", "process"), ("Net", "network"), ("Data", "data store"),
                  ("ReadFile", "file"), ("WriteFile", "file"), ("Stat", "file"),
                  ("CreateTempDir", "file"), ("RemoveDir", "file"), ("PowerOff", "host"),
                  ("Panic", "host"), ("Errno", "errors"), ("Info", "log"), ("Warn", "log"),
                  ("Error", "log"))


def helper_rows() -> Rows:
    from ..reactions.helpers import (
        EXTRA_HELPERS,
        HELPER_ORDER,
        KILL_HELPERS,
        NETWORK_HELPERS,
    )
    rows = []
    for n in HELPER_ORDER:
        group = next((g for p, g in _HELPER_GROUPS if n.startswith(p)), "other")
        rows.append({"name": n, "group": group, "jibril": n not in EXTRA_HELPERS,
                     "needs": "netpolicy" if n in NETWORK_HELPERS else "CAP_KILL" if n in KILL_HELPERS else ""})
    return rows


def code_rows() -> Rows:
    from ..core.errors import CODES, code_doc
    from ..core.report import help_uri
    return [{"code": c, "meaning": m, "description": code_doc(c), "help": help_uri(c)}
            for c, m in CODES.items()]


def printer_rows() -> Rows:
    from ..runtime.printers import PRINTERS
    return [{"printer": k, "doc": v} for k, v in PRINTERS.items()]


WHAT: dict[str, tuple[Callable[..., Rows], tuple[str, ...]]] = {
    "recipes": (recipe_rows, ("name", "kind", "mechanism", "importance", "enabled", "mode", "file:line")),
    "fields": (field_rows, ("name", "type", "kinds", "kernel", "doc")),
    "operators": (operator_rows, ("operator", "applies_to", "value", "doc")),
    "helpers": (helper_rows, ("name", "group", "jibril", "needs")),
    "codes": (code_rows, ("code", "meaning")),
    "printers": (printer_rows, ("printer", "doc")),
}


def _cell(row: dict[str, Any], col: str) -> str:
    if col == "file:line":
        return f"{row['file']}:{row['line']}"
    v = row.get(col, "")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


def human_table(rows: Rows, cols: tuple[str, ...]) -> str:
    cells = [[_cell(r, c) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(x[i]) for x in cells]) for i, c in enumerate(cols)]
    titles = [c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)]
    titles[-1] = titles[-1].rstrip()
    head = "  ".join(click.style(x, bold=True) for x in titles)
    lines = [head] + ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
                               for row in cells]
    return "\n".join(lines) + "\n"


@command(name="list", examples=[
    ("jibril list recipes", "the configured recipes: kind, mechanism, importance, mode, file:line"),
    ("jibril list fields --format json", "every event field as JSON"),
    ("jibril list helpers", "the reaction helpers and what they need"),
    ("jibril list codes", "every diagnostic code with its docs link"),
], exits={1: "the recipes have errors"}, config=True)
@click.argument("what", type=click.Choice(list(WHAT)))
@click.option("--from", "source", multiple=True, metavar="PATH|-", show_default="the configured recipe paths",
              help="Recipe files/folders for `list recipes`; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human",
              help="An aligned table, or a JSON array of objects.")
def list_cmd(what: str, source: tuple[str, ...], fmt: str) -> None:
    """List recipes, event fields, operators, reaction helpers, diagnostic codes or printers."""
    fn, cols = WHAT[what]
    rows = fn(source) if what == "recipes" else fn()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    else:
        click.echo(human_table(rows, cols), nl=False)
    opts().note(f"{len(rows)} {what}")
