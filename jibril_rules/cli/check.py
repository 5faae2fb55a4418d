"""`jibril lint` and `jibril compile`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..core.errors import Diagnostic, JibrilError, Span
from .app import colour_diagnostics, print_diags, recipe_sources, user_errors, write_or_fail
from .conventions import command, fail, opts


@command(examples=[
    ("jibril lint", "the configured recipes (built-ins + /etc/jibril/recipes), from any folder"),
    ("jibril lint my/ --fail-on warning", "warnings fail too (CI)"),
    ("jibril lint my/ --format sarif --output lint.sarif", "for code scanning"),
    ("cat r.yaml | jibril lint -", "recipes from stdin"),
], exits={1: "errors (or warnings, with --fail-on warning)",
          2: "usage error, or nothing to lint (no recipe file in PATHS)"}, config=True)
@click.argument("paths", nargs=-1, metavar="[PATH|-]...")
@click.option("--format", "fmt", type=click.Choice(["human", "json", "sarif", "github"]), default="human",
              help="Report format: human text with carets, JSON, SARIF 2.1.0, or GitHub annotations.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error",
              help="Lowest severity that makes the exit code 1.")
@click.option("--netpolicy/--no-netpolicy", default=None, show_default="from the configuration",
              help="Is the network policy configured on the machines these recipes run on?")
@click.option("--shared/--no-shared", default=True,
              help="Also load the _shared folders (lists, macros) beside or above the given files.")
@click.option("--output", default=None, metavar="FILE", show_default="stdout",
              help="Write the report to FILE.")
def lint(paths: tuple[str, ...], fmt: str, fail_on: str, netpolicy: bool | None, shared: bool,
         output: str | None) -> None:
    """Check recipes; print every problem with file:line:column, a code and a hint.

    With no PATH, lints the configured recipe paths and says which. A configuration is used
    only when given (--config, -o) or found (./jibril.yaml, /etc/jibril/jibril.yaml); lint
    says which one, and reports its problems together with the recipes'.
    """
    from ..config import Config, load_config
    from ..core.report import format_github, format_human, format_json, format_sarif
    from ..overrides import OverrideError
    from ..tools.lint import LintOptions, lint_paths
    from ..tools.testrunner import recipe_sources as with_shared
    o = opts()
    o.debug_lookup()
    cfg_diags: list[Diagnostic] = []
    try:
        cfg = load_config(o.config_path, o.overrides)
    except OverrideError as e:
        fail(str(e), 2)
    except JibrilError as e:  # collect-all: the config's problems in the same report
        cfg, cfg_diags = Config(), e.diagnostics
    if cfg.path or o.overrides:
        o.note(f"lint: using {cfg.origin}")
    else:
        o.debug(f"using {cfg.origin}")
    targets = recipe_sources(paths, cfg=cfg)
    if paths and shared:
        targets = with_shared([p for p in targets if p != "-"]) + (["-"] if "-" in targets else [])
    o.debug("lint: reading " + ", ".join(targets))
    np = cfg.netpolicy if netpolicy is None else netpolicy
    rs, diags = lint_paths(targets, LintOptions(netpolicy=np))
    diags = cfg_diags + diags
    if not rs.sources and not diags:  # an empty folder: a usage error, not a clean lint
        fail(f"nothing to lint: no recipe file (*.yaml, *.yml) in {' '.join(paths) or 'the recipe paths'}", 2)
    text = {"human": lambda: format_human(diags, rs.sources), "json": lambda: format_json(diags),
            "sarif": lambda: format_sarif(diags), "github": lambda: format_github(diags)}[fmt]()
    if fmt == "human" and o.quiet:
        text = text if diags else ""
    if output:
        write_or_fail(output, "the report to", lambda: Path(output).write_text(text))
        o.note(f"lint: wrote {output}")
    else:
        click.echo(colour_diagnostics(text) if fmt == "human" else text, nl=False)
    n_err = sum(d.severity.value == "error" for d in diags)
    failing = n_err if fail_on == "error" else len(diags)
    o.note(f"{len(rs.recipes)} recipe(s) checked in {len(rs.sources)} file(s)")
    sys.exit(1 if failing else 0)


@command(name="compile", examples=[
    ("jibril compile my/ -o my.jbundle", "one hashed bundle from a folder"),
    ("jibril compile -o all.jbundle", "the configured recipes (built-ins + /etc/jibril/recipes)"),
    ("jibril compile my/ -o b.jbundle --tables", "also print every kernel map entry"),
], exits={1: "the recipes have errors (run jibril lint)"})
@click.argument("paths", nargs=-1, metavar="[PATH|-]...")
@click.option("-o", "--output", required=True, metavar="FILE", help="Bundle file to write (e.g. recipes.jbundle).")
@click.option("--include-disabled", is_flag=True, help="Also compile recipes with enabled: false.")
@click.option("--tables", "show_tables", is_flag=True,
              help="Print every kernel map entry exactly as `jibril run` loads it.")
@click.option("--sign", "sign_key", default=None, metavar="PREFIX.key", show_default="unsigned",
              help="Also sign the bundle with this Ed25519 key (writes OUTPUT.sig).")
def compile_cmd(paths: tuple[str, ...], output: str, include_disabled: bool, show_tables: bool,
                sign_key: str | None) -> None:
    """Compile recipes into one hashed, reproducible bundle (-v: one line per recipe)."""
    from ..bundle import write
    from ..compiler.driver import compile_ruleset
    from ..compiler.report import summary
    from ..compiler.ruleset import load_paths
    o = opts()
    verbose = o.verbose > 0
    t0 = time.perf_counter()
    rs = load_paths(recipe_sources(paths))
    if not rs.ok:
        print_diags([d for d in rs.diagnostics if d.severity.value == "error"], rs.sources)
        sys.exit(1)
    with user_errors():
        b = compile_ruleset(rs, include_disabled)
    if not b.recipes:
        print_diags([Diagnostic("JR023", "no recipes to compile (0 found)", Span(paths[0] if paths else "<recipes>"),
                                "point at files or folders that hold recipes ('- kind: ...')")])
        sys.exit(1)
    write_or_fail(output, "the bundle to", lambda: write(b, output))
    if sign_key:
        from ..fleet.signing import git_revision, sign_file
        with user_errors():
            signed = sign_file(output, sign_key, git_revision(paths[0] if paths else "."))
        if not o.quiet:
            click.echo(f"signed -> {signed}")
    if not o.quiet:
        for line in summary(b, len(rs.sources), (time.perf_counter() - t0) * 1000, output, verbose):
            click.echo(line)
        for line in hook_lines(b, verbose):
            click.echo(line)
    if show_tables:
        click.echo(json.dumps(b.tables.to_json(), indent=1, sort_keys=True))


def hook_lines(b: Any, verbose: bool) -> list[str]:
    """The mechanisms the bundle needs and each recipe's cost class (sensor/plan.py)."""
    from ..compiler.split import build_tables
    from ..sensor.plan import build_available, plan, recipe_hook_class
    avail = build_available()
    out = [f"mechanism {line}" for line in plan(b.tables, avail).lines()]
    atoms = list(b.atoms)
    for i, r in enumerate(b.recipes):
        if verbose or i < 20:
            hook = recipe_hook_class(build_tables([r.ir], atoms), avail)
            prevent = f"; prevent: {r.prevent} in the kernel" if r.prevent else ""
            out.append(f"  hook {r.name}: {hook}{prevent}")
    if len(b.recipes) > 20 and not verbose:
        out.append(f"  ... {len(b.recipes) - 20} more hook classes (use -v)")
    return out
