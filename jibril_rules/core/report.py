"""Diagnostics for people and tools: human (with the source line and a caret), JSON, SARIF, GitHub.

In core/ so the agent can report a bad bundle without importing lint or the compiler.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import __version__
from .errors import CODES, Collector, Diagnostic, Severity, code_doc
from .vocab import DOCS_URL, PROJECT_URL


def _source_lines(path: str, sources: dict[str, Any]) -> Any:
    """The file's lines for the caret display: from the loaded sources, else read it."""
    if path not in sources:
        from .source import read_source
        sources[path] = read_source(path, Collector()) if path and not path.startswith("<") else None
    return sources[path]


NO_SOURCE_CODES = frozenset({"JR080", "JR081", "JR082", "JR083", "JR002", "JR006"})  # no text line to show
MAX_SHOWN = 160  # characters of a source line shown around the column


def _window(text: str, col: int) -> tuple[str, int]:
    """A long line cut to MAX_SHOWN characters around `col` (with the caret's new column)."""
    if len(text) <= MAX_SHOWN:
        return text, col
    start = max(0, min(col - 1 - MAX_SHOWN // 2, len(text) - MAX_SHOWN))
    head = "..." if start else ""
    tail = "..." if start + MAX_SHOWN < len(text) else ""
    return head + text[start:start + MAX_SHOWN] + tail, col - start + len(head)


def format_human(diags: list[Diagnostic], sources: dict[str, Any]) -> str:
    out: list[str] = []
    sources = dict(sources)
    for d in diags:
        out.append(f"{d.span}: {d.severity.value} {d.code}: {d.message}")
        # a bundle is one line of JSON: never its "source line"
        src = _source_lines(d.span.file, sources) if d.code not in NO_SOURCE_CODES else None
        if src is not None and 0 < d.span.line <= len(src.lines):
            text, col = _window(src.lines[d.span.line - 1], max(d.span.col, 1))
            out.append(f"    {text}")
            out.append("    " + " " * (col - 1) + "^")
        if d.hint:
            out.append(f"    hint: {d.hint}")
    n_err = sum(d.severity is Severity.ERROR for d in diags)
    n_warn = sum(d.severity is Severity.WARNING for d in diags)
    n_note = len(diags) - n_err - n_warn
    out.append(f"{n_err} error(s), {n_warn} warning(s)" + (f", {n_note} note(s)" if n_note else ""))
    return "\n".join(out) + "\n"


def format_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2) + "\n"


def gh_data(s: str) -> str:
    """Escape a workflow-command message as GitHub's toolkit does (escapeData)."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_property(s: str) -> str:
    """Escape a workflow-command property value (escapeProperty): also ':' and ','."""
    return gh_data(s).replace(":", "%3A").replace(",", "%2C")


def format_github(diags: list[Diagnostic]) -> str:
    """GitHub Actions annotations (::error file=..,line=..,col=..,title=..::message)."""
    lines = []
    for d in diags:
        kind = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(d.severity, "notice")
        msg = d.message + (f". {d.hint}" if d.hint else "")
        props = (f"file={gh_property(d.span.file)},line={d.span.line},col={d.span.col},"
                 f"title={gh_property(d.code)}")
        lines.append(f"::{kind} {props}::{gh_data(msg)}")
    return "\n".join(lines) + ("\n" if lines else "")


SRCROOT = "SRCROOT"


def _artifact(path: str, root: Path) -> dict[str, str]:
    """A relative URI against SRCROOT (the folder lint ran from), else an absolute file URI."""
    p = Path(path)
    if not path or path.startswith("<"):
        return {"uri": quote(path or "<input>"), "uriBaseId": SRCROOT}
    try:
        rel = (p if p.is_absolute() else root / p).resolve().relative_to(root)
        return {"uri": quote(rel.as_posix()), "uriBaseId": SRCROOT}
    except ValueError:
        return {"uri": p.resolve().as_uri()}


def help_uri(code: str) -> str:
    """The code's section in docs/diagnostics.md (one `## JRnnn` heading per code)."""
    return f"{DOCS_URL}/diagnostics.md#{code.lower()}"


def format_sarif(diags: list[Diagnostic], root: str | None = None) -> str:
    """SARIF 2.1.0: every code as a rule (help link to docs/diagnostics.md), one result each;
    paths relative to SRCROOT (`root`, default the current folder)."""
    base = Path(root or Path.cwd()).resolve()
    used = sorted({d.code for d in diags} | set(CODES))
    rules = [{"id": c, "name": "".join(w.capitalize() for w in re.findall(r"[A-Za-z0-9]+", CODES.get(c, c))),
              "shortDescription": {"text": CODES.get(c, c)},
              "fullDescription": {"text": code_doc(c)},
              "help": {"text": f"{code_doc(c)} See {help_uri(c)}",
                       "markdown": f"{code_doc(c)}\n\n[{c} in docs/diagnostics.md]({help_uri(c)})"},
              "helpUri": help_uri(c)}
             for c in used]
    results = []
    for d in diags:
        results.append({
            "ruleId": d.code, "ruleIndex": used.index(d.code),
            "level": d.severity.value,  # error | warning | note, SARIF's own levels
            "message": {"text": d.message + (f" Hint: {d.hint}" if d.hint else "")},
            "locations": [{"physicalLocation": {
                "artifactLocation": _artifact(d.span.file, base),
                "region": {"startLine": max(d.span.line, 1), "startColumn": max(d.span.col, 1)}}}],
        })
    doc = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "jibril-rules", "version": __version__,
                                         "informationUri": PROJECT_URL, "rules": rules}},
                     "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri() + "/"}},
                     "results": results}]}
    return json.dumps(doc, indent=2) + "\n"
