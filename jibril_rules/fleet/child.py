"""Load a bundle in a separate interpreter before the agent does (follow mode).

Kept apart from follow.py so the child imports only the bundle reader and the engine,
not the registry client.
"""

from __future__ import annotations

import json
import subprocess
import sys

from ..core.errors import Diagnostic, JibrilError, Span

CHILD_TIMEOUT_S = 120.0


def check_in_child(data: bytes, where: str) -> None:
    """Load the bundle in a separate interpreter first: a bundle that crashes the loader
    (or exhausts memory) takes the child down, not the agent."""
    code = "from jibril_rules.fleet.child import _child_main; _child_main()"
    try:
        r = subprocess.run([sys.executable, "-c", code, where], input=data, capture_output=True,
                           timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise JibrilError([Diagnostic("JR080", "loading the bundle took too long in the child",
                                      Span(where), "the bundle is too large or hostile")]) from None
    if r.returncode == 0:
        return
    try:
        diags = [Diagnostic(d["code"], d["message"], Span(d["file"], d["line"], d["column"]),
                            d["hint"]) for d in json.loads(r.stderr)]
    except (ValueError, KeyError, TypeError):
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {r.returncode}"]
        diags = [Diagnostic("JR080", f"the bundle crashed the loader: {tail[0]}", Span(where),
                            "do not deploy it; compile it again")]
    raise JibrilError(diags)


def _child_main() -> None:
    from ..bundle import from_bytes
    from ..runtime.engine import Engine
    data = sys.stdin.buffer.read()
    try:
        Engine(from_bytes(data, sys.argv[1]), kernel_model=False)
    except JibrilError as e:
        sys.stderr.write(json.dumps([d.to_json() for d in e.diagnostics]))
        sys.exit(1)
