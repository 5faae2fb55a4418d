"""IR -> kernel prefilter: a sound over-approximation of every recipe as table entries.

Each recipe condition is approximated by clauses. A file clause is (action mask, selector)
with selector any | exact path | path prefix | basename; a network clause is a selector
any | remote cidr | local cidr | remote port | local port. Negated atoms and fields the
kernel cannot see approximate to "everything", so the kernel can only pass extra events.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from ..core.errors import Collector, Span
from ..core.kernel_tables import MAX_BASE, MAX_PATH, KernelTables
from ..core.regexcheck import literal_prefix
from ..core.vocab import ALL_FILE_ACTIONS_MASK, FILE_ACTION_BIT, action_mask
from .ir import AtomKey, IRNode, IRRecipe

EXECVE = 1 << FILE_ACTION_BIT["execve"]
FILE_ONLY = ALL_FILE_ACTIONS_MASK & ~EXECVE
ANY: tuple[str, ...] = ("any",)
Sel = tuple[Any, ...]
FClause = tuple[int, Sel]


@dataclass(frozen=True)
class Approx:
    files: tuple[FClause, ...]
    nets: tuple[Sel, ...]


TOP = Approx(((ALL_FILE_ACTIONS_MASK, ANY),), (ANY,))
BOTTOM = Approx((), ())
MAX_PRODUCT = 256


def _vals(v: Any) -> tuple[Any, ...]:
    return v if isinstance(v, tuple) else (v,)


def approx_atom(key: AtomKey) -> Approx:
    f, op, v = key
    if op == "!=":
        return TOP  # true when the field is absent, so it says nothing about the event kind
    if f == "event.mechanism" and op in ("==", "in"):
        vals = set(_vals(v))
        mask = (FILE_ONLY if "file_access" in vals else 0) | (EXECVE if "execution" in vals else 0)
        return Approx(((mask, ANY),) if mask else (), (ANY,) if "network_peers" in vals else ())
    if f.startswith("file."):
        return Approx(_file_sels(f, op, v), ())
    if f.startswith("flow."):
        return Approx((), _net_sels(f, op, v))
    return TOP


def _file_sels(f: str, op: str, v: Any) -> tuple[FClause, ...]:
    all_: tuple[FClause, ...] = ((ALL_FILE_ACTIONS_MASK, ANY),)
    if f == "file.actions" and op in ("==", "in", "contains"):
        return ((action_mask(list(_vals(v))), ANY),)
    if f == "file.file":
        if op in ("==", "in"):
            return tuple((ALL_FILE_ACTIONS_MASK, ("exact", p)) for p in _vals(v))
        pre = {"startswith": v if isinstance(v, str) else "",
               "regex": literal_prefix(v, anchored=False) if isinstance(v, str) else "",
               "glob": _glob_prefix(v) if isinstance(v, str) else ""}.get(op, "")
        return ((ALL_FILE_ACTIONS_MASK, ("prefix", pre)),) if pre else all_
    if f == "file.dir" and op in ("==", "in"):
        return tuple((ALL_FILE_ACTIONS_MASK, ("dir", d.rstrip("/") or "/")) for d in _vals(v))
    if f == "file.dir" and op == "startswith" and v:
        return ((ALL_FILE_ACTIONS_MASK, ("prefix", v)),)
    if f == "file.basename" and op in ("==", "in"):
        return tuple((ALL_FILE_ACTIONS_MASK, ("base", b)) for b in _vals(v))
    return all_


def _glob_prefix(g: str) -> str:
    cut = min((g.find(c) for c in "*?[" if c in g), default=len(g))
    return g[:cut]


def _net_sels(f: str, op: str, v: Any) -> tuple[Sel, ...]:
    kinds = {"flow.remote.address": "rcidr", "flow.local.address": "lcidr",
             "flow.remote.port": "rport", "flow.local.port": "lport"}
    k = kinds.get(f)
    if k is None or op not in ("==", "in"):
        return (ANY,)
    if k.endswith("cidr"):
        return tuple((k, str(ipaddress.ip_network(str(x), strict=False))) for x in _vals(v))
    return tuple((k, int(x)) for x in _vals(v))


def _dir_prefix(d: str) -> str:
    return d if d.endswith("/") else d + "/"


def _meet_sel(a: Sel, b: Sel) -> Sel | None:
    """A selector covering the intersection (None when provably empty).

    ("dir", d) is an exact parent directory: with a basename it pins the exact path, which
    the kernel checks with one hash lookup; on its own it is the prefix d/.
    """
    if a == ANY:
        return b
    if b == ANY or a == b:
        return a
    if a[0] == "dir" or b[0] == "dir":
        d, o = (a, b) if a[0] == "dir" else (b, a)
        if o[0] == "base":
            return ("exact", _dir_prefix(d[1]) + o[1])
        if o[0] == "exact":
            return o if os.path.dirname(o[1]) == d[1] else None
        if o[0] == "dir":
            return None  # two different parent directories
        if o[0] == "prefix":
            p = _dir_prefix(d[1])
            if p.startswith(o[1]):
                return d
            return o if o[1].startswith(p) else None
        return d
    if a[0] == "exact":
        if b[0] == "exact":
            return None
        if b[0] == "prefix":
            return a if a[1].startswith(b[1]) else None
        if b[0] == "base":
            return a if os.path.basename(a[1]) == b[1] else None
    if b[0] == "exact":
        return _meet_sel(b, a)
    if a[0] == b[0] == "prefix":
        return a if a[1].startswith(b[1]) else b if b[1].startswith(a[1]) else None
    if a[0] == b[0] == "base":
        return None
    return a  # prefix with basename, or two network selectors: either one is a superset


def _meet_mask(a: int, b: int) -> int:
    """Actions the kernel must pass for an event satisfying both sides.

    Not the intersection: `file.actions contains open and file.actions contains unlink`
    holds for an event whose actions were gathered from several syscalls, so every one of
    them must reach userspace. "All actions" is the identity.
    """
    if a == ALL_FILE_ACTIONS_MASK:
        return b
    if b == ALL_FILE_ACTIONS_MASK:
        return a
    return a | b


def meet(x: Approx, y: Approx) -> Approx:
    if len(x.files) * len(y.files) > MAX_PRODUCT:
        files = x.files if len(x.files) <= len(y.files) else y.files
    else:
        fl: list[FClause] = []
        for ma, sa in x.files:
            for mb, sb in y.files:
                s = _meet_sel(sa, sb)
                if s is not None:
                    fl.append((_meet_mask(ma, mb), s))
        files = tuple(dict.fromkeys(fl))
    if len(x.nets) * len(y.nets) > MAX_PRODUCT:
        nets = x.nets if len(x.nets) <= len(y.nets) else y.nets
    else:
        nl = [s for a in x.nets for b in y.nets if (s := _meet_sel(a, b)) is not None]
        nets = tuple(dict.fromkeys(nl))
    return Approx(files, nets)


def approx(n: IRNode, atoms: list[AtomKey]) -> Approx:
    tag = n[0]
    if tag == "T" or tag == "n":
        return TOP
    if tag == "F":
        return BOTTOM
    if tag == "a":
        return approx_atom(atoms[n[1]])
    parts = [approx(k, atoms) for k in n[1]]
    if tag == "|":
        return Approx(tuple(dict.fromkeys(c for p in parts for c in p.files)),
                      tuple(dict.fromkeys(c for p in parts for c in p.nets)))
    acc = parts[0]
    for p in parts[1:]:
        acc = meet(acc, p)
    return acc


def build_tables(recipes: list[IRRecipe], atoms: list[AtomKey],
                 diags: Collector | None = None, spans: list[Span] | None = None) -> KernelTables:
    file_any = 0
    exact: dict[str, int] = {}
    prefix: dict[str, int] = {}
    base: dict[str, int] = {}
    net_any = False
    rc: set[str] = set()
    lc: set[str] = set()
    rp: set[int] = set()
    lp: set[int] = set()
    for r in recipes:
        a = approx(r.cond, atoms)
        for mask, sel in a.files:
            if sel[0] == "dir":  # an exact parent directory is the prefix d/ in the kernel
                sel = ("prefix", _dir_prefix(sel[1]))
            key = sel[1] if len(sel) > 1 else ""
            limit = MAX_BASE if sel[0] == "base" else MAX_PATH
            if sel == ANY or len(key.encode()) > limit or (sel[0] == "prefix" and key in ("", "/")):
                if sel != ANY and len(key.encode()) > limit and diags is not None and spans:
                    diags.warn("JR070", f"'{key[:40]}...' is longer than {limit} bytes; the kernel passes every path for this recipe",
                               spans[r.index], "shorten the path or accept more kernel traffic")
                file_any |= mask
            else:
                table = {"exact": exact, "prefix": prefix, "base": base}[sel[0]]
                table[key] = table.get(key, 0) | mask
        for sel in a.nets:
            if sel == ANY:
                net_any = True
            else:
                {"rcidr": rc, "lcidr": lc, "rport": rp, "lport": lp}[sel[0]].add(sel[1])  # type: ignore[attr-defined]
    orig = dict(prefix)  # a longest-prefix match must return the union of all matching prefixes
    for p in prefix:
        for i in range(1, len(p)):
            prefix[p] |= orig.get(p[:i], 0)
    return KernelTables(
        file_any=file_any,
        file_exact=tuple(sorted(exact.items())), file_prefix=tuple(sorted(prefix.items())),
        file_base=tuple(sorted(base.items())), exec_any=bool(file_any & EXECVE),
        net_any=net_any, net_remote_cidrs=tuple(sorted(rc)), net_local_cidrs=tuple(sorted(lc)),
        net_remote_ports=tuple(sorted(rp)), net_local_ports=tuple(sorted(lp)))
