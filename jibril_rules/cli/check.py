"""`jibril lint` and `jibril compile`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..core.errors import Diagnostic, JibrilError, Span
from .app import main, print_diags, user_errors, write_or_fail


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["human", "json", "sarif", "github"]), default="human")
@click.option("--netpolicy/--no-netpolicy", default=None, help="Is the network policy configured? (default: from jibril.yaml)")
@click.option("--config", "config_path", default=None, help="Configuration file (default ./jibril.yaml).")
@click.option("-o", "--output", default=None, help="Write the report to a file.")
def lint(paths: tuple[str, ...], fmt: str, netpolicy: bool | None, config_path: str | None,
         output: str | None) -> None:
    """Check recipes; print every problem with file:line:column."""
    from ..config import Config, load_config
    from ..core.report import format_github, format_human, format_json, format_sarif
    from ..tools.lint import LintOptions, lint_paths
    cfg_diags: list[Diagnostic] = []
    try:
        cfg = load_config(config_path)
    except JibrilError as e:  # collect-all: the config's problems in the same report
        cfg, cfg_diags = Config(), e.diagnostics
    np = cfg.netpolicy if netpolicy is None else netpolicy
    rs, diags = lint_paths(list(paths), LintOptions(netpolicy=np))
    diags = cfg_diags + diags
    text = {"human": lambda: format_human(diags, rs.sources), "json": lambda: format_json(diags),
            "sarif": lambda: format_sarif(diags), "github": lambda: format_github(diags)}[fmt]()
    if output:
        write_or_fail(output, "the report to", lambda: Path(output).write_text(text))
    else:
        click.echo(text, nl=False)
    n_err = sum(d.severity.value == "error" for d in diags)
    if fmt == "human":
        click.echo(f"{len(rs.recipes)} recipe(s) checked", err=True)
    sys.exit(1 if n_err else 0)


@main.command(name="compile")
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Bundle file to write (e.g. recipes.jbundle).")
@click.option("--include-disabled", is_flag=True, help="Also compile recipes with enabled: false.")
@click.option("-v", "--verbose", is_flag=True, help="One summary line per recipe.")
@click.option("--tables", "show_tables", is_flag=True,
              help="Print every kernel map entry exactly as `jibril run` loads it.")
@click.option("--sign", "sign_key", default=None, help="Also sign the bundle with PREFIX.key (writes OUTPUT.sig).")
def compile_cmd(paths: tuple[str, ...], output: str, include_disabled: bool, verbose: bool,
                show_tables: bool, sign_key: str | None) -> None:
    """Compile recipes into one hashed, reproducible bundle."""
    from ..bundle import write
    from ..compiler.driver import compile_ruleset
    from ..compiler.report import summary
    from ..compiler.ruleset import load_paths
    t0 = time.perf_counter()
    rs = load_paths(list(paths))
    if not rs.ok:
        print_diags([d for d in rs.diagnostics if d.severity.value == "error"], rs.sources)
        sys.exit(1)
    with user_errors():
        b = compile_ruleset(rs, include_disabled)
    if not b.recipes:
        print_diags([Diagnostic("JR023", "no recipes to compile (0 found)", Span(paths[0]),
                                "point at files or folders that hold recipes ('- kind: ...')")])
        sys.exit(1)
    write_or_fail(output, "the bundle to", lambda: write(b, output))
    if sign_key:
        from ..fleet.signing import git_revision, sign_file
        with user_errors():
            click.echo(f"signed -> {sign_file(output, sign_key, git_revision(paths[0]))}")
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
