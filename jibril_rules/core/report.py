"""Diagnostics for people and tools: human (with the source line and a caret), JSON, SARIF, GitHub.

In core/ so the agent can report a bad bundle without importing lint or the compiler.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from .errors import CODES, Collector, Diagnostic, Severity


def _source_lines(path: str, sources: dict[str, Any]) -> Any:
    """The file's lines for the caret display: from the loaded sources, else read it."""
    if path not in sources:
        from .source import read_source
        sources[path] = read_source(path, Collector()) if path and not path.startswith("<") else None
    return sources[path]


def format_human(diags: list[Diagnostic], sources: dict[str, Any]) -> str:
    out: list[str] = []
    sources = dict(sources)
    for d in diags:
        out.append(f"{d.span}: {d.severity.value} {d.code}: {d.message}")
        src = _source_lines(d.span.file, sources)
        if src is not None and 0 < d.span.line <= len(src.lines):
            text = src.lines[d.span.line - 1]
            out.append(f"    {text}")
            out.append("    " + " " * (max(d.span.col, 1) - 1) + "^")
        if d.hint:
            out.append(f"    hint: {d.hint}")
    n_err = sum(d.severity is Severity.ERROR for d in diags)
    n_warn = len(diags) - n_err
    out.append(f"{n_err} error(s), {n_warn} warning(s)")
    return "\n".join(out) + "\n"


def format_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2) + "\n"


def format_github(diags: list[Diagnostic]) -> str:
    lines = []
    for d in diags:
        kind = "error" if d.severity is Severity.ERROR else "warning"
        msg = f"{d.message}. {d.hint}".replace("%", "%25").replace("\n", "%0A")
        lines.append(f"::{kind} file={d.span.file},line={d.span.line},col={d.span.col},title={d.code}::{msg}")
    return "\n".join(lines) + ("\n" if lines else "")


def format_sarif(diags: list[Diagnostic]) -> str:
    used = sorted({d.code for d in diags} | set(CODES))
    rules = [{"id": c, "name": CODES.get(c, c).replace(" ", "_"),
              "shortDescription": {"text": CODES.get(c, c)}}
             for c in used]
    results = []
    for d in diags:
        results.append({
            "ruleId": d.code, "ruleIndex": used.index(d.code),
            "level": "error" if d.severity is Severity.ERROR else "warning",
            "message": {"text": d.message + (f" Hint: {d.hint}" if d.hint else "")},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": d.span.file},
                "region": {"startLine": max(d.span.line, 1), "startColumn": max(d.span.col, 1)}}}],
        })
    doc = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "jibril-rules", "version": __version__,
                                         "rules": rules}},
                     "results": results}]}
    return json.dumps(doc, indent=2) + "\n"
