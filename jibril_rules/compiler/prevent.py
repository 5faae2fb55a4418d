"""prevent: kill | deny — valid only when the kernel decides the recipe's whole condition.

`kill` is decided at sched_process_exec (bpf/jibril.bpf.c): the condition must be the exec
gate (mechanism execution, file action execve) and one disjunction of exact exe paths or
basenames; nothing else (no process fields, no negations, no exceptions, no times caps).
Other actions (knet's `deny`) register a decider with `register(action, fn)`.

    selectors, why = decide(ir_recipe, atoms, "kill", has_exceptions, has_times)
    # why: "" when decidable, else the predicate that keeps the recipe in userspace
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..core.errors import Collector, Span
from ..core.ir import And, Atom, AtomKey, Const, Node, Or
from .ir import render_ir

IRNode = tuple[Any, ...]  # the deciders' view: ("a"|"n", id) | ("&"|"|", kids) | ("T"|"F",)


def as_tuple(n: Node) -> IRNode:
    """The typed IR as nested tuples (what the deciders pattern-match on)."""
    if isinstance(n, Atom):
        return ("n" if n.negated else "a", n.id)
    if isinstance(n, And):
        return ("&", tuple(as_tuple(k) for k in n.kids))
    if isinstance(n, Or):
        return ("|", tuple(as_tuple(k) for k in n.kids))
    return ("T",) if n.value else ("F",)


def as_node(t: IRNode) -> Node:
    if t[0] in ("a", "n"):
        return Atom(t[1], t[0] == "n")
    if t[0] in ("&", "|"):
        kids = tuple(as_node(k) for k in t[1])
        return And(kids) if t[0] == "&" else Or(kids)
    return Const(t[0] == "T")

PREVENT_ACTIONS = ("kill", "deny")
Selector = tuple[str, str]  # ("exact" | "base", key)
Decider = Callable[[IRNode, list[AtomKey]], tuple[list[Selector], str]]
_SEL_FIELDS = {"file.basename": "base", "file.file": "exact", "file.path": "exact"}


def _vals(v: Any) -> tuple[Any, ...]:
    return v if isinstance(v, tuple) else (v,)


def _gate(key: AtomKey) -> bool:
    f, op, v = key
    if f == "event.mechanism" and op in ("==", "in"):
        return set(_vals(v)) == {"execution"}
    if f == "file.actions" and op in ("==", "in", "contains"):
        return "execve" in _vals(v)
    return False


def _sels(key: AtomKey) -> list[Selector] | None:
    f, op, v = key
    kind = _SEL_FIELDS.get(f)
    if kind is None or op not in ("==", "in"):
        return None
    return [(kind, str(x)) for x in _vals(v)]


def exec_kill(cond: IRNode, atoms: list[AtomKey]) -> tuple[list[Selector], str]:
    """Selectors when the exec hook decides `cond` whole; else ([], offending predicate)."""
    parts = cond[1] if cond[0] == "&" else (cond,)
    sels: list[Selector] | None = None
    for p in parts:
        if p[0] == "a" and _gate(atoms[p[1]]):
            continue
        got: list[Selector] | None = None
        if p[0] == "a":
            got = _sels(atoms[p[1]])
        elif p[0] == "|":
            acc: list[Selector] = []
            for k in p[1]:
                s = _sels(atoms[k[1]]) if k[0] == "a" else None
                if s is None:
                    return [], _text(k, atoms)
                acc += s
            got = acc
        if got is None or sels is not None:
            return [], _text(p, atoms)
        sels = got
    if not sels:
        return [], "no exe path or basename to decide on (the kernel would prevent every exec)"
    return sels, ""


DECIDERS: dict[str, Decider] = {"kill": exec_kill}


def register(action: str, fn: Decider) -> None:
    DECIDERS[action] = fn


def decide(cond: Node | IRNode, atoms: list[AtomKey], action: str,
           exceptions: tuple[str, ...] = (), times: bool = False) -> tuple[list[Selector], str]:
    fn = DECIDERS.get(action)
    if fn is None:
        return [], f"prevent: {action} has no kernel mechanism in this build"
    if exceptions:
        return [], f"exception {exceptions[0]!r}"
    if times:
        return [], "times: (a userspace counter)"
    return fn(cond if isinstance(cond, tuple) else as_tuple(cond), atoms)


def _text(n: IRNode, atoms: list[AtomKey]) -> str:
    return re.sub(r"#\d+ ", "", render_ir(as_node(n), atoms))


def check(name: str, action: str, cond: Node | IRNode, atoms: list[AtomKey], exceptions: tuple[str, ...],
          times: bool, span: Span, diags: Collector) -> list[Selector]:
    sels, why = decide(cond, atoms, action, exceptions, times)
    if why:
        diags.add("JR074", f"recipe {name!r}: prevent: {action} needs a condition the kernel "
                  f"decides whole, but {why} is evaluated in userspace", span,
                  "remove prevent: (use a KillCurrent() reaction instead), or reduce the condition "
                  "to the exec gate and exact exe paths / basenames")
    return sels


from . import prevent_deny as _prevent_deny  # noqa: E402,F401 - registers the deny decider
