"""prevent: deny — decided by the kernel for open/exec of exact files (fanotify permission
marks) and for connect/sendmsg to remote CIDRs and ports (cgroup programs).

Selectors (tables.prevent entries, action "deny"):
  ("open", path) / ("execve", path)   FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM on that file
  ("cidr", "10.0.0.0/8"), ("port", "4444")   one network rule per recipe: any of its CIDRs
                                            (none: any address) and any of its ports
"""

from __future__ import annotations

from typing import Any

from ..core.ir import AtomKey
from . import prevent
from .prevent import IRNode

Selector = tuple[str, str]
_CONNECT_FLAGS = {"created", "egress", "outgoing", "started"}  # what a connect event carries


def _vals(v: Any) -> tuple[Any, ...]:
    return v if isinstance(v, tuple) else (v,)


def deny(cond: IRNode, atoms: list[AtomKey]) -> tuple[list[Selector], str]:
    parts = cond[1] if cond[0] == "&" else (cond,)
    mech: set[str] = set()
    file_acts: set[str] = set()
    paths: list[str] = []
    base = dirn = ""
    cidrs: list[str] = []
    ports: list[str] = []
    for p in parts:
        if p[0] != "a":
            return [], prevent._text(p, atoms)
        f, op, v = atoms[p[1]]
        vals = _vals(v)
        if f == "event.mechanism" and op in ("==", "in"):
            mech |= set(vals)
        elif f == "file.actions" and op in ("==", "in", "contains") and \
                set(vals) <= {"open", "execve"}:
            file_acts |= set(vals)
        elif f in ("file.file", "file.path") and op in ("==", "in") and not paths:
            paths = [str(x) for x in vals]
        elif f == "file.basename" and op == "==":
            base = str(v)
        elif f == "file.dir" and op == "==":
            dirn = str(v)
        elif f == "flow.remote.address" and op == "in" and not cidrs:
            cidrs = [str(x) for x in vals]
        elif f == "flow.remote.port" and op in ("==", "in") and not ports:
            ports = [str(int(x)) for x in vals if int(x)]
        elif f == "flow.flags" and op in ("==", "in") and set(vals) & _CONNECT_FLAGS:
            continue
        else:
            return [], prevent._text(p, atoms)
    if base and dirn and not paths:
        paths = [f"{dirn.rstrip('/')}/{base}"]
    if mech == {"network_peers"} and not file_acts and not paths:
        if not cidrs and not ports:
            return [], "no remote CIDR or port to decide on (the kernel would deny every connect)"
        return [("cidr", c) for c in cidrs] + [("port", p) for p in ports], ""
    if mech and mech <= {"file_access", "execution"} and paths and file_acts:
        return [(a, path) for a in sorted(file_acts) for path in paths], ""
    if paths and not file_acts:
        return [], "no file action open or execve to deny"
    return [], "a condition other than exact paths with open/execve, or remote CIDRs/ports"


prevent.register("deny", deny)
