"""`jibril setup`: install the system packages the live sensor and the reactions need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from .conventions import command, opts

SCRIPT = Path(__file__).resolve().parent.parent / "data" / "setup" / "system.sh"


@command(examples=[
    ("sudo jibril setup", "install what is missing (bcc, kernel headers, nftables, ...)"),
    ("jibril setup --check", "only say what is missing"),
], exits={1: "something is missing (with --check) or could not be installed"})
@click.option("--check", is_flag=True, help="Change nothing: list what is missing, exit 1 if anything is.")
def setup(check: bool) -> None:
    """Install the system packages (Debian/Ubuntu, root): bcc (python3-bpfcc), kernel headers
    (exact, else the generic ones, linked for bcc), nftables, iproute2, redis-server,
    docker-registry, prometheus, chromium; mount tracefs. Idempotent; stops at the first error.
    The same script as `scripts/setup.sh`'s first step, shipped in the package."""
    o = opts()
    o.debug(f"setup: running {SCRIPT}")
    rc = subprocess.run(["bash", str(SCRIPT), *(["--check"] if check else [])], check=False).returncode
    sys.exit(rc)
