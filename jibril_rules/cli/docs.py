"""`jibril docs`: reference pages generated from the registries and the click definitions."""

from __future__ import annotations

from pathlib import Path

import click

from .app import write_or_fail
from .conventions import command, opts


@command(examples=[
    ("jibril docs", "refresh docs/*.md in the current folder (a checkout)"),
    ("jibril docs --out /tmp/ref", "write the pages somewhere else"),
])
@click.option("--out", "out_dir", default="docs", metavar="DIR",
              help="Folder to write the reference pages to (created if missing).")
def docs(out_dir: str) -> None:
    """Generate the field, operator, diagnostic, metrics and CLI reference pages (fields.md,
    operators.md, diagnostics.md, metrics.md, cli.md) from the registries and the command
    definitions."""
    from ..tools.docgen import write_docs
    from .reference import cli_md
    o = opts()
    written: list[str] = []
    path = Path(out_dir) / "cli.md"

    def write() -> None:
        written.extend(map(str, write_docs(out_dir)))
        path.write_text(cli_md())
        written.append(str(path))
    write_or_fail(out_dir, "the reference pages to", write)
    if not o.quiet:
        for p in written:
            click.echo(f"wrote {p}")
