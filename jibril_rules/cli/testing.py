"""`jibril test`: recipe tests kept next to the recipes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .app import print_diags, recipe_sources, write_or_fail
from .conventions import command, fail, opts


@command(examples=[
    ("jibril test", "the built-in recipes' own tests, from any folder"),
    ("jibril test my/", "my/**/*.test.yaml against the recipes in my/"),
    ("jibril test my/ --junit report.xml", "also write JUnit XML for a CI dashboard"),
], exits={1: "a test failed, or a test file or recipe has errors", 2: "usage error, or no *.test.yaml found"})
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--no-reactions", is_flag=True, help="Skip expected-action checks.")
@click.option("--junit", "junit_path", default=None, metavar="FILE", show_default="none",
              help="Write the results as JUnit XML (one testcase per recipe test).")
def test(paths: tuple[str, ...], no_reactions: bool, junit_path: str | None) -> None:
    """Run recipe tests (*.test.yaml) kept next to the recipes; never acts on the host."""
    from ..tools.testrunner import run_tests
    o = opts()
    results, diags = run_tests(recipe_sources(paths, "tests"), reactions=not no_reactions)
    if diags:
        print_diags(diags)
    passed = failed = 0
    for r in results:
        if r.ok:
            passed += 1
            if not o.quiet:
                click.echo(click.style("PASS", fg="green") + f" {r.name}  ({r.span})")
        else:
            failed += 1
            click.echo(click.style("FAIL", fg="red", bold=True) + f" {r.name}  ({r.span})")
            for f in r.failures:
                click.echo(f"     {f}")
    if junit_path:
        from ..tools.junit import to_junit
        xml = to_junit(results, diags)
        write_or_fail(junit_path, "the JUnit report to", lambda: Path(junit_path).write_text(xml, encoding="utf-8"))
        o.note(f"jibril test: wrote {junit_path}")
    if not o.quiet or failed:
        click.echo(f"jibril test: {passed} passed, {failed} failed")
    if not results and not diags:
        fail("no *.test.yaml files found in " + (" ".join(paths) or "the recipe paths"), 2)
    sys.exit(1 if failed or any(d.severity.value == "error" for d in diags) else 0)
