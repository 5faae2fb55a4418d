"""`jibril lint`: structure, expressions, names, regexes and reaction code, all errors at once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import DOCS_URL, PROJECT_URL, __version__
from ..compiler.recipe import Recipe
from ..compiler.ruleset import Ruleset, load_paths
from ..core.errors import CODES, Collector, Diagnostic, Severity, Span, code_doc

_NET_CALL = re.compile(r"\b(NetBlockIp|NetUnblockIp|NetBlockIpTimer|NetBlockDomain)\s*\(")


@dataclass(frozen=True)
class LintOptions:
    netpolicy: bool = False  # is the network policy (nftables) configured on the targets?
    check_reactions: bool = True


def lint_paths(paths: list[str], opts: LintOptions | None = None) -> tuple[Ruleset, list[Diagnostic]]:
    opts = opts or LintOptions()
    rs = load_paths(paths)
    diags = Collector(list(rs.diagnostics))
    if opts.check_reactions:
        for r in rs.recipes:
            check_reactions(r, opts, diags)
    items = sorted(set(diags.items), key=lambda d: (d.span.file, d.span.line, d.span.col, d.code))
    return rs, items


def check_reactions(r: Recipe, opts: LintOptions, diags: Collector) -> None:
    try:
        from ..reactions import check_js, check_shell
    except ImportError:  # pragma: no cover - the reactions runtime is part of the package
        return
    for rx in r.reactions:
        issues = check_js(rx.code) if rx.format == "js" else check_shell(rx.code)
        masked = js_mask(rx.code) if rx.format == "js" else rx.code
        mlines = masked.splitlines()
        n_lines = max(len(rx.code.rstrip("\n").splitlines()), 1)
        for it in issues:
            if rx.format == "js" and _code_for("js", it.message) == "JR062" and not _is_code(mlines, it.line, it.column):
                continue  # a name inside a string, comment or regex literal is no call
            line = rx.code_line + min(max(it.line, 1), n_lines) - 1
            col = rx.code_col + max(it.column, 1) - 1
            code = _code_for(rx.format, it.message)
            sev = Severity.WARNING if getattr(it, "severity", "error") == "warning" else Severity.ERROR
            hint = {"JR061": "define function process(data) { ... }",
                    "JR062": "see docs/reactions.md for the helper list",
                    "JR064": "run the script through 'sh -n' locally"}.get(code, "fix the reaction code")
            diags.add(code, it.message, Span(rx.span.file, line, col), hint, sev)
        if rx.format == "js" and not opts.netpolicy:
            for i, text in enumerate(mlines):
                m = _NET_CALL.search(text)
                if m:
                    diags.warn("JR063", f"{m.group(1)}() needs the network policy, which is not configured",
                               Span(rx.span.file, rx.code_line + i, rx.code_col + m.start()),
                               "enable netpolicy in jibril.yaml (reactions.netpolicy: true) or pass --netpolicy")


_REGEX_PREV = set("(,=:[!&|?{};+-*%<>~^") | {""}


def js_mask(code: str) -> str:
    """The code with strings, comments and regex literals blanked (same length and lines)."""
    out = list(code)
    i, n = 0, len(code)
    prev = ""
    while i < n:
        c = code[i]
        nxt = code[i + 1] if i + 1 < n else ""
        end = -1
        if c == "/" and nxt == "/":  # through the comment's last character, newline kept
            end = code.find("\n", i)
            end = n + 1 if end < 0 else end + 1
        elif c == "/" and nxt == "*":
            end = code.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif c in "'\"`" or (c == "/" and prev in _REGEX_PREV):
            j = i + 1
            in_class = False
            while j < n and code[j] != "\n" or (c == "`" and j < n):
                if code[j] == "\\":
                    j += 2
                    continue
                if c == "/" and code[j] == "[":
                    in_class = True
                elif c == "/" and code[j] == "]":
                    in_class = False
                elif code[j] == c and not in_class:
                    break
                j += 1
            end = min(j + 1, n)
        if end > i:
            for k in range(i + 1, end - 1):
                if out[k] != "\n":
                    out[k] = " "
            prev = "x"
            i = end
            continue
        if not c.isspace():
            prev = c if not (c.isalnum() or c in "_$") else "x"
        i += 1
    return "".join(out)


def _is_code(lines: list[str], line: int, col: int) -> bool:
    if not 0 < line <= len(lines):
        return True
    text = lines[line - 1]
    return 0 < col <= len(text) and not text[col - 1].isspace()


def _code_for(fmt: str, message: str) -> str:
    if fmt == "shell":
        return "JR064"
    low = message.lower()
    if "process" in low and ("missing" in low or "no " in low or "not defined" in low or "define" in low):
        return "JR061"
    if "unknown helper" in low or "unknown function" in low:
        return "JR062"
    return "JR060"


def _source_lines(path: str, sources: dict[str, Any]) -> Any:
    """The file's lines for the caret display: from the loaded sources, else read it."""
    if path not in sources:
        from ..core.source import read_source
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
        kind = "error" if d.severity is Severity.ERROR else "warning"
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


def format_sarif(diags: list[Diagnostic], root: str | None = None) -> str:
    """SARIF 2.1.0: every code as a rule (help link to docs/diagnostics.md), one result each."""
    base = Path(root or Path.cwd()).resolve()
    used = sorted({d.code for d in diags} | set(CODES))
    rules = [{"id": c, "name": "".join(w.capitalize() for w in re.findall(r"[A-Za-z0-9]+", CODES.get(c, c))),
              "shortDescription": {"text": CODES.get(c, c)},
              "fullDescription": {"text": code_doc(c)},
              "help": {"text": f"{code_doc(c)} See {DOCS_URL}/diagnostics.md#{c.lower()}",
                       "markdown": f"{code_doc(c)}\n\n[{c} in docs/diagnostics.md]"
                                   f"({DOCS_URL}/diagnostics.md#{c.lower()})"},
              "helpUri": f"{DOCS_URL}/diagnostics.md#{c.lower()}"}
             for c in used]
    results = []
    for d in diags:
        results.append({
            "ruleId": d.code, "ruleIndex": used.index(d.code),
            "level": "error" if d.severity is Severity.ERROR else "warning",
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
