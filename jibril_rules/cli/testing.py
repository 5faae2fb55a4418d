"""`jibril test`: recipe tests kept next to the recipes."""

from __future__ import annotations

import sys

import click

from .app import main, print_diags


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--no-reactions", is_flag=True, help="Skip expected-action checks.")
def test(paths: tuple[str, ...], no_reactions: bool) -> None:
    """Run recipe tests (*.test.yaml) kept next to the recipes."""
    from ..tools.testrunner import run_tests
    results, diags = run_tests(list(paths), reactions=not no_reactions)
    if diags:
        print_diags(diags)
    passed = failed = 0
    for r in results:
        if r.ok:
            passed += 1
            click.echo(f"PASS {r.name}  ({r.span})")
        else:
            failed += 1
            click.echo(f"FAIL {r.name}  ({r.span})")
            for f in r.failures:
                click.echo(f"     {f}")
    click.echo(f"jibril test: {passed} passed, {failed} failed")
    if not results and not diags:
        click.echo("no *.test.yaml files found", err=True)
        sys.exit(1)
    sys.exit(1 if failed or any(d.severity.value == "error" for d in diags) else 0)
