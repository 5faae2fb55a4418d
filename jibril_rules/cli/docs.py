"""`jibril docs`: reference pages generated from the registries."""

from __future__ import annotations

import click

from .app import main, write_or_fail


@main.command()
@click.option("--out", "out_dir", default="docs", help="Folder to write the reference pages to.")
def docs(out_dir: str) -> None:
    """Generate the field, operator, diagnostic and metrics reference pages from the registries."""
    from ..tools.docgen import write_docs
    written: list[str] = []
    write_or_fail(out_dir, "the reference pages to", lambda: written.extend(map(str, write_docs(out_dir))))
    for p in written:
        click.echo(f"wrote {p}")
