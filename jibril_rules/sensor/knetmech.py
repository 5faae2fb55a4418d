"""The marks (fanotify) and cgroup_net (cgroup v2 programs) mechanisms behind the sensor's
mechanism seam (mechanism.py); importing this module registers both.

prevent: deny entries of the tables (compiler/prevent_deny.py) become fanotify permission
marks on the named files, and one cgroup deny rule per network recipe. Modes are per recipe
index (set_modes / set_mode, as the exec program); a recipe without a mode is in monitor mode.
"""

from __future__ import annotations

import os
from typing import Any

from ..core.kernel_tables import KernelTables
from ..core.vocab import FILE_ACTION_BIT
from . import mechanism as M
from .cgroupnet import CgroupNet, NetDenyRule
from .fanotify import DenyFile, FanotifyWatch, MarkPlan, Prevent
from .plan import CGROUP_NET, MARKS, Plan


def deny_files(t: KernelTables, modes: dict[int, bool]) -> tuple[DenyFile, ...]:
    by: dict[tuple[int, str], list[str]] = {}
    for sel, key, rid, action in t.prevent:
        if action == "deny" and sel in ("open", "execve"):
            by.setdefault((rid, key), []).append(sel)
    return tuple(DenyFile(str(rid), (path,), tuple(acts), modes.get(rid, False))
                 for (rid, path), acts in sorted(by.items()))


def deny_rules(t: KernelTables, modes: dict[int, bool]) -> tuple[NetDenyRule, ...]:
    cidrs: dict[int, list[str]] = {}
    ports: dict[int, list[int]] = {}
    for sel, key, rid, action in t.prevent:
        if action != "deny":
            continue
        if sel == "cidr":
            cidrs.setdefault(rid, []).append(key)
        elif sel == "port":
            ports.setdefault(rid, []).append(int(key))
    return tuple(NetDenyRule(str(rid), tuple(cidrs.get(rid, ())), tuple(ports.get(rid, ())),
                             modes.get(rid, False)) for rid in sorted(set(cidrs) | set(ports)))


class Marks:
    name = MARKS

    def __init__(self) -> None:
        self.host: Any = None
        self.fw: FanotifyWatch | None = None
        self.modes: dict[int, bool] = {}

    def _plan(self, plan: Plan, tables: KernelTables) -> MarkPlan:
        return MarkPlan.from_tables(plan.marks, deny_files(tables, self.modes))

    def attach(self, host: Any, plan: Plan, tables: KernelTables) -> None:
        self.host = host
        self.modes = dict(getattr(host, "_modes", {}) or {})
        self.fw = FanotifyWatch(self._on_event)
        self.fw.start(self._plan(plan, tables))

    def reload(self, plan: Plan, tables: KernelTables) -> None:
        assert self.fw is not None
        self.fw.reload(self._plan(plan, tables))

    def detach(self) -> None:
        if self.fw is not None:
            self.fw.close()
            self.fw = None

    def _on_event(self, pid: int, path: str, actions: list[str], prevent: Prevent | None) -> None:
        mask = sum(1 << FILE_ACTION_BIT[a] for a in actions)
        kp = None
        if prevent is not None:
            kp = {"recipe_index": int(prevent.recipe), "action": "deny",
                  "enforced": prevent.enforced}
            self.host.prevented(pid, int(prevent.recipe), "deny", prevent.enforced)
        self.host.file_event(pid, path, mask, 0, prevent=kp)

    def set_modes(self, modes: dict[int, bool]) -> None:
        self.modes = dict(modes)
        if self.fw is not None:
            for rid, enf in modes.items():
                self.fw.set_enforce(enf, str(rid))

    def set_mode(self, recipe: int, enforce: bool) -> None:
        self.modes[recipe] = enforce
        if self.fw is not None:
            self.fw.set_enforce(enforce, str(recipe))

    def stats(self) -> dict[str, dict[str, int]]:
        if self.fw is None:
            return {}
        s = self.fw.stats
        return {"marks": {"seen": s.events + s.perm_events, "sent": s.events,
                          "lost": s.overflows}}

    def fds(self) -> list[int]:
        return [self.fw.nfd, self.fw.wake_r] if self.fw is not None else []

    def service(self, fd: int) -> None:
        if self.fw is not None:
            self.fw.poll(0)

    def hook_names(self) -> list[str]:
        if self.fw is None or not self.fw.stats.marks:
            return []  # kept after a reload to a bundle without marks: nothing attached
        out = [f"fanotify marks: {self.fw.stats.marks - len(self.fw.deny_ino)}"]
        if self.fw.stats.widened:
            out.append(f"fanotify: {self.fw.stats.widened} directories beyond the mark limit "
                       "are NOT watched")
        if self.fw.deny_ino:
            out.append(f"fanotify permission marks: {len(self.fw.deny_ino)}")
        return out


class CgroupNetMech:
    name = CGROUP_NET

    def __init__(self) -> None:
        self.net: CgroupNet | None = None
        self.host: Any = None
        self.modes: dict[int, bool] = {}

    def _rules(self, tables: KernelTables) -> tuple[NetDenyRule, ...]:
        rules = deny_rules(tables, self.modes)
        asm = getattr(self.host, "asm", None)
        if asm is not None:
            asm.net_deny = tuple(int(r.recipe) for r in rules)
        return rules

    def attach(self, host: Any, plan: Plan, tables: KernelTables) -> None:
        self.host = host
        self.modes = dict(getattr(host, "_modes", {}) or {})
        self.net = CgroupNet(tables, lambda k, r: None, self_tgid=host.self_tgid)
        self.net.deny = self._rules(tables)
        self.net.start(add_ring=host.add_ring)

    def reload(self, plan: Plan, tables: KernelTables) -> None:
        assert self.net is not None
        self.net.deny = self._rules(tables)
        in_use = bool(plan.net) or bool(self.net.deny)
        if in_use:
            self.net.set_attached(True)  # before the new tables go live: no gap
        self.net.load(tables)
        if not in_use:
            self.net.set_attached(False)

    def detach(self) -> None:
        if self.net is not None:
            self.net.close()
            self.net = None

    def set_modes(self, modes: dict[int, bool]) -> None:
        self.modes = dict(modes)
        for rid, enf in modes.items():
            self.set_mode(rid, enf)

    def block_domain(self, domain: str) -> bool:
        """NetBlockDomain: drop later DNS answers for this name in the kernel."""
        return self.net is not None and self.net.b is not None and self.net.block_domain(domain)

    def set_mode(self, recipe: int, enforce: bool) -> None:
        self.modes[recipe] = enforce
        if self.net is not None and self.net.b is not None:
            self.net.set_enforce(str(recipe), enforce)

    def stats(self) -> dict[str, dict[str, int]]:
        return self.net.stats() if self.net is not None else {}

    def fds(self) -> list[int]:
        return []

    def service(self, fd: int) -> None:
        pass

    def hook_names(self) -> list[str]:
        if self.net is None or not self.net.attached:
            return []
        return [f"cgroup2:{p[2].lower()}" for p in CgroupNet.PROGRAMS] + \
            ["tracepoint:sock:inet_sock_set_state"]


def _probe_fanotify() -> str:
    return "" if hasattr(os, "pipe2") and os.path.exists("/proc/sys/fs/fanotify") else \
        "fanotify is not available (kernel without CONFIG_FANOTIFY)"


def _probe_cgroup2() -> str:
    try:
        with open("/proc/filesystems") as f:
            return "" if "cgroup2" in f.read() else "the kernel has no cgroup2 filesystem"
    except OSError as e:
        return f"cannot read /proc/filesystems: {e}"


M.register(MARKS, Marks, _probe_fanotify)
M.register(CGROUP_NET, CgroupNetMech, _probe_cgroup2)
