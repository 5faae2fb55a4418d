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
from typing import Any, Literal, assert_never

from ..core.errors import Collector, Span
from ..core.ir import EQUALITY, And, Atom, AtomKey, Const, IRRecipe, Node, Or, as_values
from ..core.kernel_tables import MAX_PATH, KernelTables
from ..core.ops import Op
from ..core.regexcheck import literal_prefix
from ..core.vocab import (
    ALL_FILE_ACTIONS_MASK,
    EXECUTION,
    FILE_ACCESS,
    FILE_ACTION_BIT,
    NETWORK_PEERS,
    action_mask,
)

EXECVE = 1 << FILE_ACTION_BIT["execve"]
FILE_ONLY = ALL_FILE_ACTIONS_MASK & ~EXECVE
FileKind = Literal["any", "exact", "prefix", "dir", "base"]
NetKind = Literal["any", "rcidr", "lcidr", "rport", "lport"]


@dataclass(frozen=True, slots=True)
class FileSel:
    """Which paths a file clause covers; "dir" is an exact parent directory."""

    kind: FileKind
    path: str = ""


@dataclass(frozen=True, slots=True)
class NetSel:
    kind: NetKind
    key: str | int = ""  # a CIDR or a port


ANY = FileSel("any")
ANY_NET = NetSel("any")
FClause = tuple[int, FileSel]  # (action mask, selector)


@dataclass(frozen=True)
class Approx:
    files: tuple[FClause, ...]
    nets: tuple[NetSel, ...]


TOP = Approx(((ALL_FILE_ACTIONS_MASK, ANY),), (ANY_NET,))
BOTTOM = Approx((), ())
MAX_PRODUCT = 256


def approx_atom(key: AtomKey) -> Approx:
    f, op, v = key
    if op is Op.NE:
        return TOP  # true when the field is absent, so it says nothing about the event kind
    if f == "event.mechanism" and op in EQUALITY:
        vals = set(as_values(v))
        mask = (FILE_ONLY if FILE_ACCESS in vals else 0) | (EXECVE if EXECUTION in vals else 0)
        return Approx(((mask, ANY),) if mask else (), (ANY_NET,) if NETWORK_PEERS in vals else ())
    if f.startswith("file."):
        return Approx(_file_sels(f, op, v), ())
    if f.startswith("flow."):
        return Approx((), _net_sels(f, op, v))
    return TOP


def _file_sels(f: str, op: Op, v: Any) -> tuple[FClause, ...]:
    all_: tuple[FClause, ...] = ((ALL_FILE_ACTIONS_MASK, ANY),)
    if f == "file.actions" and op in (Op.EQ, Op.IN, Op.CONTAINS):
        return ((action_mask(list(as_values(v))), ANY),)
    if f == "file.file":
        if op in EQUALITY:
            return tuple((ALL_FILE_ACTIONS_MASK, FileSel("exact", p)) for p in as_values(v))
        pre = {Op.STARTSWITH: v if isinstance(v, str) else "",
               Op.REGEX: literal_prefix(v, anchored=False) if isinstance(v, str) else "",
               Op.GLOB: _glob_prefix(v) if isinstance(v, str) else ""}.get(op, "")
        return ((ALL_FILE_ACTIONS_MASK, FileSel("prefix", pre)),) if pre else all_
    if f == "file.dir" and op in EQUALITY:
        return tuple((ALL_FILE_ACTIONS_MASK, FileSel("dir", d.rstrip("/") or "/")) for d in as_values(v))
    if f == "file.dir" and op is Op.STARTSWITH and v:
        return ((ALL_FILE_ACTIONS_MASK, FileSel("prefix", v)),)
    if f == "file.basename" and op in EQUALITY:
        return tuple((ALL_FILE_ACTIONS_MASK, FileSel("base", b)) for b in as_values(v))
    return all_


def _glob_prefix(g: str) -> str:
    cut = min((g.find(c) for c in "*?[" if c in g), default=len(g))
    return g[:cut]


def _net_sels(f: str, op: Op, v: Any) -> tuple[NetSel, ...]:
    kinds: dict[str, NetKind] = {"flow.remote.address": "rcidr", "flow.local.address": "lcidr",
             "flow.remote.port": "rport", "flow.local.port": "lport"}
    k = kinds.get(f)
    if k is None or op not in EQUALITY:
        return (ANY_NET,)
    if k.endswith("cidr"):
        return tuple(NetSel(k, str(ipaddress.ip_network(str(x), strict=False))) for x in as_values(v))
    return tuple(NetSel(k, int(x)) for x in as_values(v))


def _dir_prefix(d: str) -> str:
    return d if d.endswith("/") else d + "/"


def _meet_sel(a: FileSel, b: FileSel) -> FileSel | None:
    """A selector covering the intersection (None when provably empty).

    FileSel("dir", d) is an exact parent directory: with a basename it pins the exact path,
    which the kernel checks with one hash lookup; on its own it is the prefix d/.
    """
    if a == ANY:
        return b
    if b == ANY or a == b:
        return a
    if a.kind == "dir" or b.kind == "dir":
        d, o = (a, b) if a.kind == "dir" else (b, a)
        if o.kind == "base":
            return FileSel("exact", _dir_prefix(d.path) + o.path)
        if o.kind == "exact":
            return o if os.path.dirname(o.path) == d.path else None
        if o.kind == "dir":
            return None  # two different parent directories
        if o.kind == "prefix":
            p = _dir_prefix(d.path)
            if p.startswith(o.path):
                return d
            return o if o.path.startswith(p) else None
        return d
    if a.kind == "exact":
        if b.kind == "exact":
            return None
        if b.kind == "prefix":
            return a if a.path.startswith(b.path) else None
        if b.kind == "base":
            return a if os.path.basename(a.path) == b.path else None
    if b.kind == "exact":
        return _meet_sel(b, a)
    if a.kind == b.kind == "prefix":
        return a if a.path.startswith(b.path) else b if b.path.startswith(a.path) else None
    if a.kind == b.kind == "base":
        return None
    return a  # prefix with basename: either one is a superset


def _meet_net(a: NetSel, b: NetSel) -> NetSel:
    """Two network selectors: either one covers the intersection."""
    return b if a == ANY_NET else a


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
        nl = [_meet_net(a, b) for a in x.nets for b in y.nets]
        nets = tuple(dict.fromkeys(nl))
    return Approx(files, nets)


def approx(n: Node, atoms: list[AtomKey]) -> Approx:
    match n:
        case Const(value):
            return TOP if value else BOTTOM
        case Atom(i, negated):
            return TOP if negated else approx_atom(atoms[i])
        case Or(kids):
            parts = [approx(k, atoms) for k in kids]
            return Approx(tuple(dict.fromkeys(c for p in parts for c in p.files)),
                          tuple(dict.fromkeys(c for p in parts for c in p.nets)))
        case And(kids):
            parts = [approx(k, atoms) for k in kids]
            acc = parts[0]
            for p in parts[1:]:
                acc = meet(acc, p)
            return acc
        case _:
            assert_never(n)


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
            if sel.kind == "dir":  # an exact parent directory is the prefix d/ in the kernel
                sel = FileSel("prefix", _dir_prefix(sel.path))
            key = sel.path
            limit = MAX_PATH
            if sel == ANY or len(key.encode()) > limit or (sel.kind == "prefix" and key in ("", "/")):
                if sel != ANY and len(key.encode()) > limit and diags is not None and spans:
                    diags.warn("JR070", f"'{key[:40]}...' is longer than {limit} bytes; the kernel passes every path for this recipe",
                               spans[r.index], "shorten the path or accept more kernel traffic")
                file_any |= mask
            else:
                table = {"exact": exact, "prefix": prefix, "base": base}[sel.kind]
                table[key] = table.get(key, 0) | mask
        for ns in a.nets:
            if ns == ANY_NET:
                net_any = True
            elif ns.kind in ("rcidr", "lcidr"):
                (rc if ns.kind == "rcidr" else lc).add(str(ns.key))
            else:
                (rp if ns.kind == "rport" else lp).add(int(ns.key))
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
