"""`jibril lint` and `jibril compile`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from .app import main, print_diags, user_errors


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["human", "json", "sarif", "github"]), default="human")
@click.option("--netpolicy/--no-netpolicy", default=None, help="Is the network policy configured? (default: from jibril.yaml)")
@click.option("--config", "config_path", default=None, help="Configuration file (default ./jibril.yaml).")
@click.option("-o", "--output", default=None, help="Write the report to a file.")
def lint(paths: tuple[str, ...], fmt: str, netpolicy: bool | None, config_path: str | None,
         output: str | None) -> None:
    """Check recipes; print every problem with file:line:column."""
    from ..config import load_config
    from ..tools.lint import (
        LintOptions,
        format_github,
        format_human,
        format_json,
        format_sarif,
        lint_paths,
    )
    with user_errors():
        cfg = load_config(config_path)
    np = cfg.netpolicy if netpolicy is None else netpolicy
    rs, diags = lint_paths(list(paths), LintOptions(netpolicy=np))
    text = {"human": lambda: format_human(diags, rs.sources), "json": lambda: format_json(diags),
            "sarif": lambda: format_sarif(diags), "github": lambda: format_github(diags)}[fmt]()
    if output:
        Path(output).write_text(text)
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
def compile_cmd(paths: tuple[str, ...], output: str, include_disabled: bool, verbose: bool,
                show_tables: bool) -> None:
    """Compile recipes into one hashed, reproducible bundle."""
    from ..bundle import compile_ruleset, write
    from ..compiler.ruleset import load_paths
    t0 = time.perf_counter()
    rs = load_paths(list(paths))
    if not rs.ok:
        print_diags([d for d in rs.diagnostics if d.severity.value == "error"], rs.sources)
        sys.exit(1)
    with user_errors():
        b = compile_ruleset(rs, include_disabled)
    write(b, output)
    t = b.tables
    click.echo(f"compiled {len(b.recipes)} recipe(s) from {len(rs.sources)} file(s) in "
               f"{(time.perf_counter() - t0) * 1000:.0f} ms -> {output} (hash {b.hash})")
    click.echo(f"kernel: {t.entry_count()} table entries (exact {len(t.file_exact)}, prefix "
               f"{len(t.file_prefix)}, basename {len(t.file_base)}, cidr "
               f"{len(t.net_remote_cidrs) + len(t.net_local_cidrs)}, ports "
               f"{len(t.net_remote_ports) + len(t.net_local_ports)}); pass-all: file actions "
               f"mask {t.file_any:#x}, network {t.net_any}")
    from ..compiler.split import approx
    from ..runtime.tree import describe, index_need
    atoms = list(b.atoms)
    indexed = 0
    for i, r in enumerate(b.recipes):
        need = index_need(r.ir.cond, atoms)
        indexed += need is not None
        if verbose or i < 20:
            a = approx(r.ir.cond, atoms)
            click.echo(f"  {r.name}: {_count_atoms(r.ir.cond)} residual predicate(s), "
                       f"{'indexed by ' + describe(need) if need else 'unindexed'}, "
                       f"{len(a.files) + len(a.nets)} kernel clause(s)")
    if len(b.recipes) > 20 and not verbose:
        click.echo(f"  ... {len(b.recipes) - 20} more (use -v)")
    click.echo(f"tree: {indexed}/{len(b.recipes)} recipes indexed, {len(atoms)} distinct predicates")
    if show_tables:
        click.echo(json.dumps(b.tables.to_json(), indent=1, sort_keys=True))


def _count_atoms(n: tuple[Any, ...]) -> int:
    if n[0] in ("a", "n"):
        return 1
    if n[0] in ("&", "|"):
        return sum(_count_atoms(k) for k in n[1])
    return 0
