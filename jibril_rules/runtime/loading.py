"""How the agent gets a bundle without carrying the compiler: read it, or compile in a child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..bundle import Bundle, from_bytes, is_bundle_path, read
from ..core.errors import Diagnostic, JibrilError, Severity, Span


def load_isolated(paths: list[str], include_disabled: bool = False) -> Bundle:
    """Read a bundle file, or compile recipes in a separate interpreter.

    The agent then never imports the compiler (lark, cerberus), holds only the bundle, not
    the compiler's garbage (about 15 MB for 1,000 recipes), and a compiler crash cannot take
    it down.
    """
    if len(paths) == 1 and Path(paths[0]).is_file() and is_bundle_path(paths[0]):
        return read(paths[0])
    code = "from jibril_rules.compiler.driver import child_main; child_main()"
    r = subprocess.run([sys.executable, "-c", code, json.dumps(paths), str(int(include_disabled))],
                       capture_output=True, timeout=600, check=False)
    if r.returncode == 0:
        return from_bytes(r.stdout, "<compiled recipes>", allow_empty=True)
    try:
        diags = [Diagnostic(d["code"], d["message"], Span(d["file"], d["line"], d["column"]),
                            d["hint"], Severity(d["severity"])) for d in json.loads(r.stderr)]
    except (ValueError, KeyError, TypeError):
        text = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        diags = [Diagnostic("JR000", f"the recipe compiler failed: {text[0]}", Span(paths[0]),
                            "run 'jibril lint' on the recipes")]
    raise JibrilError(diags)
