"""Static checks of reaction code: compile in V8 without running, `sh -n` for shell."""

from __future__ import annotations

import json
import re
import subprocess
import threading

from ..core.jslex import js_mask
from .engine import EngineError, V8Engine
from .helpers import HELPER_NAMES, HELPER_TABLE, suggest_helper
from .records import JsIssue

# The checked text starts with `throw 0;`: a script either fails to parse (nothing runs)
# or parses and throws at its first statement, so checking never executes reaction code.
_HEADER = "throw 0;\nfunction __jr_check(kind, name, uuid, data) {\n"
_HEADER_LINES = 2
_PARSE_RE = re.compile(r"^<anonymous>:(\d+): (.*)$")
_KEYWORDS = frozenset(
    "if for while switch catch function return typeof new delete void in of instanceof do "
    "else try finally throw case default break continue var let const class extends super "
    "this import export yield await async with debugger".split())
_CALL_RE = re.compile(r"(?<![.\w$])([A-Za-z_$][\w$]*)\s*\(")
_DECL_RE = re.compile(r"\b(?:function\*?|class|let|const|var)\s+([A-Za-z_$][\w$]*)")
_PARAMS_RE = re.compile(r"(?:function\*?\s*[\w$]*\s*\(([^)]*)\)|\(([^()]*)\)\s*=>|([A-Za-z_$][\w$]*)\s*=>)")
_CATCH_RE = re.compile(r"\bcatch\s*\(\s*([A-Za-z_$][\w$]*)")
_PROCESS_RE = re.compile(r"\bfunction\s+process\s*\(|\b(?:var|let|const)\s+process\s*=|"
                         r"(?<![.\w$])process\s*=(?!=)")

_SH = "JR064"  # every shell finding
_lock = threading.Lock()
_engine: V8Engine | None = None
_globals: frozenset[str] = frozenset()


def _checker() -> tuple[V8Engine, frozenset[str]]:
    global _engine, _globals
    if _engine is None:
        _engine = V8Engine(HELPER_TABLE, 64)
        names = _engine.eval_text("JSON.stringify(Object.getOwnPropertyNames(globalThis))")
        _globals = frozenset(json.loads(names))
    return _engine, _globals


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def check_js(code: str) -> list[JsIssue]:
    """Syntax errors (1-based line/column in `code`), a missing process(data), and calls
    to identifiers that are neither helpers, JS globals nor defined in the code."""
    issues: list[JsIssue] = []
    with _lock:
        engine, known_globals = _checker()
        try:
            engine.eval_text(_HEADER + code + "\n}", timeout_s=5.0)
        except EngineError as exc:
            if exc.kind == "parse":
                issues.append(_parse_issue(str(exc)))
                return issues
            # otherwise: the expected `throw 0` (the code parsed, nothing ran)
        # the body must also be valid on its own (the runtime compiles it with Function)
        probe = ("(() => { try { new Function('kind','name','uuid','data', " + json.dumps(code)
                 + "); return ''; } catch (e) { return String(e); } })()")
        err = engine.eval_text(probe, timeout_s=5.0)
        if err:
            issues.append(JsIssue(1, 1, f"code is not a valid function body: {err}"))
            return issues
    stripped = js_mask(code)
    if not _PROCESS_RE.search(stripped):
        issues.append(JsIssue(1, 1, "no process(data) function is defined", code="JR061"))
    declared = set(_DECL_RE.findall(stripped)) | set(_CATCH_RE.findall(stripped))
    for groups in _PARAMS_RE.findall(stripped):
        for part in groups:
            for p in part.split(","):
                name = p.strip().lstrip(".").split("=")[0].strip()
                if re.fullmatch(r"[A-Za-z_$][\w$]*", name):
                    declared.add(name)
    seen: set[str] = set()
    for m in _CALL_RE.finditer(stripped):
        ident = m.group(1)
        if ident in _KEYWORDS or ident in HELPER_NAMES or ident in declared:
            continue
        if ident in known_globals or ident in ("kind", "name", "uuid", "data") or ident in seen:
            continue
        before = stripped[: m.start()].rstrip()
        if before.endswith("new") or before.endswith("function"):
            continue
        seen.add(ident)
        line, col = _position(stripped, m.start(1))
        near = suggest_helper(ident)
        if near is not None:  # a misspelt helper: it fails at run time with a ReferenceError
            issues.append(JsIssue(line, col, f"call to unknown helper {ident!r}: did you mean "
                                             f"{near}?", code="JR062"))
            continue
        issues.append(JsIssue(line, col, f"call to unknown function {ident!r} (not a helper, "
                                         "not a JavaScript global, not defined in the reaction)",
                              severity="warning", code="JR062"))
    return issues


def _parse_issue(message: str) -> JsIssue:
    lines = message.splitlines()
    m = _PARSE_RE.match(lines[0]) if lines else None
    if not m:
        return JsIssue(1, 1, message.strip())
    line = max(1, int(m.group(1)) - _HEADER_LINES)
    col = 1
    if len(lines) >= 3 and "^" in lines[2]:
        col = lines[2].index("^") + 1
    return JsIssue(line, col, m.group(2))


def check_shell(code: str, shell_path: str = "/bin/sh") -> list[JsIssue]:
    """`sh -n`: syntax errors with the line the shell reports."""
    try:
        res = subprocess.run([shell_path, "-n"], input=code, capture_output=True, text=True,
                             timeout=5.0, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [JsIssue(1, 1, f"cannot run {shell_path} -n: {exc}", code=_SH)]
    if res.returncode == 0:
        return []
    issues: list[JsIssue] = []
    for line in res.stderr.splitlines():
        m = re.search(r"line (\d+): (.*)$", line) or re.search(r":\s*(\d+):\s*(.*)$", line)
        if m:
            issues.append(JsIssue(int(m.group(1)), 1, m.group(2).strip(), code=_SH))
        elif line.strip():
            issues.append(JsIssue(1, 1, line.strip(), code=_SH))
    return issues or [JsIssue(1, 1, f"{shell_path} -n failed with status {res.returncode}", code=_SH)]
