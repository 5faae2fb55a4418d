"""`jibril completion bash|zsh|fish`: the shell completion script (click's own completion)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from .app import main
from .conventions import command

SHELLS = ("bash", "zsh", "fish")


@command(examples=[
    ('eval "$(jibril completion bash)"', "in ~/.bashrc"),
    ('eval "$(jibril completion zsh)"', "in ~/.zshrc"),
    ("jibril completion fish > ~/.config/fish/completions/jibril.fish", "fish"),
])
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (commands, options, choices and paths)."""
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(main, {}, "jibril", "_JIBRIL_COMPLETE").source())
