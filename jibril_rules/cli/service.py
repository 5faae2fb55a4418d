"""`jibril service install|uninstall`: the systemd unit and /etc/jibril (observe/systemd.py)."""

from __future__ import annotations

import os
import sys

import click

from .conventions import group, group_command

service = group("service", help="Install or remove the systemd service (unit, /etc/jibril/jibril.yaml, recipes/).",
                examples=[("sudo jibril service install --recipes my/ --enable", "install and start the agent"),
                          ("sudo jibril service uninstall", "stop it and remove what install wrote")])


@group_command(service, examples=[
    ("sudo jibril service install --enable", "unit + /etc/jibril, then systemctl enable --now"),
    ("sudo jibril service install --recipes my/", "also copy my recipes to /etc/jibril/recipes"),
    ("jibril service install --root /tmp/img --no-verify", "into an image tree, no root needed"),
], exits={1: "not root, a write failed, or systemd-analyze verify found problems"})
@click.option("--root", default="/", show_default=True,
              help="Install below this directory (tests, images); systemctl runs only for /.")
@click.option("--recipes", default=None, show_default="none",
              help="Copy these recipe files/folder into /etc/jibril/recipes.")
@click.option("--enable", is_flag=True, help="Also `systemctl enable --now` (root / only).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Check the unit with systemd-analyze verify when it is installed.")
def install(root: str, recipes: str | None, enable: bool, verify: bool) -> None:
    """Write jibril.service (Type=notify, watchdog, restart on failure) and /etc/jibril."""
    from ..observe.systemd import UNIT_DIR, UNIT_NAME
    from ..observe.systemd import install as do_install
    from ..observe.systemd import verify as do_verify
    if root == "/" and os.geteuid() != 0:
        click.echo("error: installing into / needs root (or pass --root DIR)", err=True)
        sys.exit(1)
    if recipes and not os.path.exists(recipes):
        click.echo(f"error: {recipes}: no such file or folder (--recipes)", err=True)
        sys.exit(2)
    try:
        for line in do_install(root, recipes, enable=enable):
            click.echo(line)
    except OSError as e:
        click.echo(f"error: {e.filename or root}: {e.strerror or e}", err=True)
        sys.exit(1)
    if verify:
        ok, out = do_verify(os.path.join(root, UNIT_DIR, UNIT_NAME))
        if ok is None:
            click.echo(f"verify: skipped ({out})")
        elif ok:
            click.echo("verify: systemd-analyze verify found no problem")
        else:
            click.echo(f"verify: systemd-analyze verify reports:\n{out}", err=True)
            sys.exit(1)


@group_command(service, examples=[
    ("sudo jibril service uninstall", "stop and remove the unit and unchanged files"),
    ("jibril service uninstall --root /tmp/img", "from an image tree"),
], exits={1: "not root"})
@click.option("--root", default="/", show_default=True, help="Where `install --root` wrote.")
def uninstall(root: str) -> None:
    """Stop and remove the unit and every file install wrote that is unchanged."""
    from ..observe.systemd import uninstall as do_uninstall
    if root == "/" and os.geteuid() != 0:
        click.echo("error: uninstalling from / needs root (or pass --root DIR)", err=True)
        sys.exit(1)
    try:
        said = do_uninstall(root)
    except OSError as e:
        click.echo(f"error: {getattr(e, 'filename', None) or root}: {e.strerror or e}", err=True)
        sys.exit(1)
    for line in said or ["nothing to remove"]:
        click.echo(line)
