"""`jibril explain`: what a recipe does and why it fired."""

from __future__ import annotations

import sys

import click

from ..core.errors import Diagnostic
from .app import load_bundle, print_diags
from .conventions import command


@command(examples=[
    ("jibril explain crypto_miner_executed", "a built-in recipe: condition, kernel entries, tree, reactions"),
    ("jibril explain my_rule --from my/ --event ev.jsonl", "why each event did or did not match"),
    ("jibril explain my_rule --from b.jbundle --event -", "events from stdin, recipes from a bundle"),
], exits={1: "the recipes or events have errors", 2: "usage error, or no recipe of that name"})
@click.argument("name")
@click.option("--from", "source", multiple=True, metavar="PATH|BUNDLE|-",
              show_default="the configured recipe paths",
              help="Recipe files/folders or a .jbundle; repeatable.")
@click.option("--event", "event_file", default=None, metavar="FILE|-", show_default="none",
              help="A JSON event (or JSONL: each line) to trace; - reads stdin.")
def explain(name: str, source: tuple[str, ...], event_file: str | None) -> None:
    """Show what a recipe does, what the kernel and the tree evaluate, and why it fired."""
    from ..tools.explain import explain as do_explain
    from ..tools.explain import trace
    from ..tools.replay import read_events
    b = load_bundle(source)
    r = b.by_name(name)
    if r is None:
        import difflib
        near = difflib.get_close_matches(name, [x.name for x in b.recipes], n=3)
        click.echo(f"error: no recipe named '{name}'" + (f"; did you mean {', '.join(near)}?" if near else ""), err=True)
        sys.exit(2)
    click.echo(do_explain(b, r), nl=False)
    if event_file:
        errs: list[Diagnostic] = []
        for el in read_events(event_file, errs):
            click.echo("")
            click.echo(trace(b, r, el.event), nl=False)
        if errs:
            print_diags(errs)
            sys.exit(1)
