"""`jibril docs`: reference pages generated from the registries."""

from __future__ import annotations

import click

from .app import main


@main.command()
@click.option("--out", "out_dir", default="docs", help="Folder to write the reference pages to.")
def docs(out_dir: str) -> None:
    """Generate the field, operator and diagnostic reference pages from the registries."""
    from ..tools.docgen import write_docs
    for p in write_docs(out_dir):
        click.echo(f"wrote {p}")
