"""`jibril doctor`: what this host's kernel allows the sensor, probed (root for most probes)."""

from __future__ import annotations

import os
import sys

import click

from .conventions import command


@command(examples=[
    ("sudo jibril doctor", "what this kernel allows the sensor (BTF, ring buffer, LSM, ...)"),
    ("sudo jibril doctor --from my/", "and which mechanisms my recipes would use here"),
], exits={1: "a probe the live sensor needs failed (the 'no' lines say which)"})
@click.option("--from", "source", multiple=True, metavar="PATH|BUNDLE", show_default="none",
              help="Also show which mechanisms these recipes would use here.")
def doctor(source: tuple[str, ...]) -> None:
    """Probe BTF, raw tracepoints, ring buffer, trampolines, BPF LSM, cgroup2, fanotify."""
    from ..sensor import mechanism as M
    from ..sensor.probe import probes
    click.echo(f"kernel {os.uname().release}")
    bad = 0
    for p in probes():
        click.echo(f"  {'ok ' if p.ok else 'no '} {p.name:<22} {p.detail}")
        bad += p.name in ("root", "BTF", "raw tracepoints", "ring buffer") and not p.ok
    avail, why = M.available()
    click.echo("optional mechanisms in this build: " + (", ".join(sorted(M.registered())) or "none")
               + (f" (host refuses: {why})" if why else ""))
    if source:
        from ..sensor.plan import plan
        from .app import load_bundle
        for line in plan(load_bundle(source).tables, avail).lines():
            click.echo(f"  mechanism {line}")
    if bad:
        click.echo("the live sensor cannot run here (see the 'no' lines above)", err=True)
        sys.exit(1)
