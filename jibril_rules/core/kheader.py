"""The kernel ABI's numbers, read from bpf/jibril_events.h itself (never retyped in Python).

Every `#define JB_NAME value` whose value is an integer or an integer expression over
earlier JB_ names (`(1 << JB_FA_OPEN) | ...`, continued lines included) is available.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

HEADER = "jibril_events.h"
PROGRAM = "jibril.bpf.c"

_DEFINE = re.compile(r"^#define\s+(JB_\w+)\s+(.+?)\s*(?:/\*.*\*/)?\s*$")
_SUFFIX = re.compile(r"(?<=[0-9a-fA-F])(?:ULL|UL|U|L)\b")


def bpf_dir() -> Path:
    """Where the BPF sources are: the installed package data, else the source checkout."""
    here = Path(__file__).resolve().parent.parent  # jibril_rules/
    for cand in (here / "data" / "bpf", here.parent / "bpf"):
        if (cand / PROGRAM).is_file() and (cand / HEADER).is_file():
            return cand
    raise FileNotFoundError(
        f"BPF sources not found (looked in {here / 'data' / 'bpf'} and {here.parent / 'bpf'})"
    )


def _eval(node: ast.expr, known: dict[str, int]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Invert)):
        v = _eval(node.operand, known)
        return -v if isinstance(node.op, ast.USub) else ~v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, known), _eval(node.right, known)
        ops = {ast.BitOr: a | b, ast.BitAnd: a & b, ast.Add: a + b, ast.Sub: a - b,
               ast.Mult: a * b} if not isinstance(node.op, (ast.LShift, ast.RShift)) else {
               ast.LShift: a << b if 0 <= b < 64 else 0, ast.RShift: a >> b if 0 <= b < 64 else 0}
        if type(node.op) in ops:
            return ops[type(node.op)]
    raise ValueError("not an integer expression")


def parse(text: str) -> dict[str, int]:
    """The integer #defines of a C header, in order (later ones may use earlier ones)."""
    out: dict[str, int] = {}
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        m = _DEFINE.match(line.strip())
        if not m:
            continue
        expr = _SUFFIX.sub("", m.group(2))
        try:
            out[m.group(1)] = _eval(ast.parse(expr, mode="eval").body, out)
        except (SyntaxError, ValueError):
            continue
    return out


@cache
def constants() -> dict[str, int]:
    """Every integer `#define JB_NAME` of bpf/jibril_events.h."""
    return parse((bpf_dir() / HEADER).read_text())


def const(name: str) -> int:
    return constants()[name]
