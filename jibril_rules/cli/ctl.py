"""`jibril ctl`: talk to a running agent over its control socket."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..core.vocab import MODES
from .conventions import command


@command(examples=[
    ("jibril ctl mode enforce", "the running agent's reactions act for real"),
    ("jibril ctl mode monitor --recipe reverse_shell_dev_tcp", "one recipe back to dry-run"),
    ("jibril ctl stats", "counters as JSON"),
    ("jibril ctl reload", "re-read the recipes without detaching"),
], exits={1: "no agent answers, or it refused the request"})
@click.argument("command", type=click.Choice(["ping", "stats", "reload", "mode", "clear-mode"]))
@click.argument("mode", required=False, type=click.Choice(list(MODES)))
@click.option("--recipe", default=None, show_default="all recipes", help="Apply the mode to one recipe only.")
@click.option("--socket", "sock", default=None, show_default="the agent's default control socket",
              help="Control socket of the agent.")
@click.option("--force", is_flag=True, help="reload: load the recipes even if there are none.")
def ctl(command: str, mode: str | None, recipe: str | None, sock: str | None, force: bool) -> None:
    """Talk to a running agent: switch monitor/enforce (globally or per recipe), reload, stats."""
    from ..runtime.control import DEFAULT_SOCKET, request
    if command == "mode" and mode is None:
        click.echo("error: say which mode: jibril ctl mode monitor|enforce [--recipe NAME]", err=True)
        sys.exit(2)
    msg: dict[str, Any] = {"cmd": command}
    if mode:
        msg["mode"] = mode
    if recipe:
        msg["recipe"] = recipe
    if force:
        msg["force"] = True
    path = sock or DEFAULT_SOCKET
    try:
        reply = request(path, msg)
    except OSError as e:
        click.echo(f"error: no agent answers on {path} ({e.strerror or e}); is `jibril run` running? "
                   "(--socket PATH)", err=True)
        sys.exit(1)
    click.echo(json.dumps(reply, sort_keys=True))
    sys.exit(0 if reply.get("ok") else 1)
