"""`jibril lint`: structure, expressions, names, regexes and reaction code, all errors at once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..compiler.recipe import Recipe
from ..compiler.ruleset import Ruleset, load_paths
from ..core.errors import Collector, Diagnostic, Severity, Span
from ..core.jslex import js_mask
from ..core.report import format_github, format_human, format_json, format_sarif
from ..core.vocab import NETWORK_HELPERS

_NET_CALL = re.compile(r"\b(" + "|".join(sorted(NETWORK_HELPERS)) + r")\s*\(")


@dataclass(frozen=True)
class LintOptions:
    netpolicy: bool = False  # is the network policy (nftables) configured on the targets?
    check_reactions: bool = True


def lint_paths(paths: list[str], opts: LintOptions | None = None) -> tuple[Ruleset, list[Diagnostic]]:
    opts = opts or LintOptions()
    rs = load_paths(paths)
    diags = Collector(list(rs.diagnostics))
    if opts.check_reactions:
        for r in rs.recipes + rs.salvaged:  # a recipe with a broken structure too
            check_reactions(r, opts, diags)
    for r in rs.recipes:
        if r.prevent:
            check_prevent(r, diags)
    items = sorted(set(diags.items), key=lambda d: (d.span.file, d.span.line, d.span.col, d.code))
    return rs, items


def check_prevent(r: Recipe, diags: Collector) -> None:
    """JR074 when the kernel cannot decide the whole condition of a prevent: recipe."""
    from ..compiler import prevent
    from ..compiler.ir import build
    irs, table = build((r,))
    prevent.check(r.name, str(r.prevent), irs[0].cond, table.atoms,
                  tuple(x.name for x in r.exceptions), bool(r.times),
                  r.prevent_span or r.span, diags)


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
            if it.code == "JR062" and not _is_code(mlines, it.line, it.column):
                continue  # a name inside a string, comment or regex literal is no call
            line = rx.code_line + min(max(it.line, 1), n_lines) - 1
            col = rx.code_col + max(it.column, 1) - 1
            code = it.code
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


def _is_code(lines: list[str], line: int, col: int) -> bool:
    if not 0 < line <= len(lines):
        return True
    text = lines[line - 1]
    return 0 < col <= len(text) and not text[col - 1].isspace()


__all__ = ["LintOptions", "check_reactions", "format_github", "format_human", "format_json",
           "format_sarif", "lint_paths"]
