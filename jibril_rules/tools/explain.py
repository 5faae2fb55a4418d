"""`jibril explain`: what a recipe is, what the kernel and the tree evaluate, and why it fired."""

from __future__ import annotations

import re
from typing import Any, assert_never

from ..bundle import Bundle, CompiledRecipe
from ..compiler.index import describe, index_need
from ..compiler.ir import render_ir
from ..compiler.split import build_tables
from ..core.ir import And, Atom, AtomKey, Const, Node, Or
from ..core.vocab import FILE_ACTIONS, HELPER_NAMES
from ..runtime.engine import getter
from ..runtime.events import normalize
from ..runtime.kernel_model import KernelModel
from ..runtime.predicates import compile_atom

CAPABILITIES = {
    "KillCurrent": "CAP_KILL", "KillParent": "CAP_KILL", "KillProcess": "CAP_KILL",
    "NetBlockIp": "CAP_NET_ADMIN + netpolicy", "NetUnblockIp": "CAP_NET_ADMIN + netpolicy",
    "NetBlockIpTimer": "CAP_NET_ADMIN + netpolicy", "NetBlockDomain": "CAP_NET_ADMIN + netpolicy",
    "WriteFile": "write access to the writable roots", "ReadFile": "read access",
    "CreateTempDir": "temp root", "RemoveDir": "temp root",
    "PowerOff": "CAP_SYS_BOOT + allow_poweroff", "Panic": "CAP_SYS_BOOT + allow_panic",
}
_CALL = re.compile(r"\b([A-Z][A-Za-z]+)\s*\(")


def _mask_names(mask: int) -> str:
    names = [a for i, a in enumerate(FILE_ACTIONS) if mask >> i & 1]
    return "all actions" if len(names) == len(FILE_ACTIONS) else ",".join(names)


def kernel_lines(r: CompiledRecipe, atoms: list[AtomKey]) -> list[str]:
    """The exact map entries this recipe contributes (what `jibril run` loads for it)."""
    t = build_tables([r.ir], atoms)
    out = []
    if t.file_any:
        out.append(f"file_any |= {t.file_any:#06x}  ({_mask_names(t.file_any)}; every path)")
    for table, entries in (("file_exact", t.file_exact), ("file_prefix", t.file_prefix),
                           ("file_base", t.file_base)):
        for key, mask in entries:
            out.append(f"{table}[{key!r}] |= {mask:#06x}  ({_mask_names(mask)})")
    if t.net_any:
        out.append("net_any = 1  (every network event)")
    for table, vals in (("net_remote_cidrs", t.net_remote_cidrs), ("net_local_cidrs", t.net_local_cidrs),
                        ("net_remote_ports", t.net_remote_ports), ("net_local_ports", t.net_local_ports)):
        for v in vals:
            out.append(f"{table} += {v}")
    return out or ["nothing: this recipe can never match (the kernel passes no event for it)"]


def helpers_of(code: str) -> list[str]:
    return sorted({m for m in _CALL.findall(code) if m in HELPER_NAMES})


def explain(b: Bundle, r: CompiledRecipe) -> str:
    atoms = list(b.atoms)
    lines = [f"recipe {r.name}  (kind {r.kind}, mechanism {r.mechanism})  defined at {r.span}",
             f"hash {r.hash}"]
    for k, v in sorted(r.meta.items()):
        lines.append(f"  {k}: {v}")
    if r.times:
        lines.append("  times: " + ", ".join(f"{k} <= {m}" for k, m in r.times))
    lines += ["", "condition (as written, macros and lists expanded):", f"  {r.condition_text}",
              "", "normalized (IR, atoms are shared across recipes):",
              f"  {render_ir(r.ir.cond, atoms)}"]
    for name, x in r.ir.excs:
        lines.append(f"  except {name}: {render_ir(x, atoms)}")
    lines += ["", "kernel prefilter (sound superset; these entries are loaded into the BPF maps):"]
    lines += [f"  {s}" for s in kernel_lines(r, atoms)]
    from ..sensor.plan import build_available, recipe_hook_class
    lines += ["", "kernel hook (what this recipe costs the host, measured):",
              f"  {recipe_hook_class(build_tables([r.ir], atoms), build_available())}"]
    if getattr(r, "prevent", None):
        lines.append(f"  prevent: {r.prevent}: decided in the kernel (sched_process_exec), "
                     "before the new image runs; monitor mode records \"would prevent\"")
    need = index_need(r.ir.cond, atoms)
    lines += ["", "decision tree:"]
    if need:
        lines.append(f"  indexed under {describe(need)}: other events never evaluate it")
    else:
        lines.append("  not indexed: evaluated for every event of its mechanism")
    lines.append(f"  userspace evaluates: {render_ir(r.ir.cond, atoms)}")
    lines += ["", "reactions:" if r.reactions else "reactions: none"]
    for i, rx in enumerate(r.reactions):
        hs = helpers_of(rx.code)
        caps = sorted({CAPABILITIES[h] for h in hs if h in CAPABILITIES})
        lines.append(f"  #{i} {rx.format} (code at line {rx.code_line}): helpers "
                     f"{', '.join(hs) or 'none'}; needs {', '.join(caps) or 'nothing special'}")
    return "\n".join(lines) + "\n"


def trace(b: Bundle, r: CompiledRecipe, raw: dict[str, Any]) -> str:
    """Evaluate one event against one recipe and say which predicate decided."""
    atoms = list(b.atoms)
    ev = normalize(raw)
    get = getter(ev)
    lines = [f"event {ev.get('uuid')} ({ev['mechanism']}) against {r.name}:"]
    kpass = KernelModel(b.tables).passes(ev)
    lines.append(f"  kernel prefilter: {'PASS' if kpass else 'DROP (no table entry covers this event)'}")
    vals: dict[int, bool] = {}

    def ev_atom(i: int) -> bool:
        if i not in vals:
            vals[i] = compile_atom(atoms[i])(get(atoms[i].field))
        return vals[i]

    def walk(n: Node, depth: int) -> bool:
        pad = "    " + "  " * depth
        match n:
            case Const(value):
                return value
            case Atom(i, negated):
                f = atoms[i].field
                res = ev_atom(i) != negated
                lines.append(f"{pad}{'true ' if res else 'FALSE'}  {render_ir(n, atoms)}   [{f} = {get(f)!r}]")
                return res
            case And(kids) | Or(kids):
                is_and = isinstance(n, And)
                lines.append(f"{pad}{'all of' if is_and else 'any of'}:")
                for k in kids:
                    res = walk(k, depth + 1)
                    if is_and and not res:
                        lines.append(f"{pad}  -> decided: this condition is false, the rest is not evaluated")
                        return False
                    if not is_and and res:
                        return True
                return is_and
            case _:
                assert_never(n)

    lines.append("  condition:")
    matched = walk(r.ir.cond, 0)
    verdict = "MATCH" if matched else "NO MATCH"
    if matched:
        for name, x in r.ir.excs:
            lines.append(f"  exception {name}:")
            if walk(x, 0):
                verdict = f"SUPPRESSED by exception {name}"
                break
    if matched and not kpass:
        verdict += " (BUG: the kernel would have dropped it; please report)"
    lines.append(f"  verdict: {verdict}")
    return "\n".join(lines) + "\n"
