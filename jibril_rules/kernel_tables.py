"""Kernel prefilter tables: the data that drives the one fixed BPF program.

The same tables are evaluated by `passes()` in replay, so the kernel model and the kernel
agree by construction (tests/test_sensor_* check the C side against this).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from .vocab import FILE_ACTION_BIT

MAX_PATH = 255
MAX_BASE = 63


@dataclass(frozen=True)
class KernelTables:
    """Sound over-approximation of every recipe; see docs/design.md 'Kernel tables'."""

    file_any: int = 0
    file_exact: tuple[tuple[str, int], ...] = ()
    file_prefix: tuple[tuple[str, int], ...] = ()
    file_base: tuple[tuple[str, int], ...] = ()
    exec_any: bool = False
    net_any: bool = False
    net_remote_cidrs: tuple[str, ...] = ()
    net_local_cidrs: tuple[str, ...] = ()
    net_remote_ports: tuple[int, ...] = ()
    net_local_ports: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "file_any": self.file_any,
            "file_exact": [list(e) for e in self.file_exact],
            "file_prefix": [list(e) for e in self.file_prefix],
            "file_base": [list(e) for e in self.file_base],
            "exec_any": self.exec_any,
            "net_any": self.net_any,
            "net_remote_cidrs": list(self.net_remote_cidrs),
            "net_local_cidrs": list(self.net_local_cidrs),
            "net_remote_ports": list(self.net_remote_ports),
            "net_local_ports": list(self.net_local_ports),
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> KernelTables:
        return KernelTables(
            file_any=int(d["file_any"]),
            file_exact=tuple((str(p), int(m)) for p, m in d["file_exact"]),
            file_prefix=tuple((str(p), int(m)) for p, m in d["file_prefix"]),
            file_base=tuple((str(p), int(m)) for p, m in d["file_base"]),
            exec_any=bool(d["exec_any"]),
            net_any=bool(d["net_any"]),
            net_remote_cidrs=tuple(d["net_remote_cidrs"]),
            net_local_cidrs=tuple(d["net_local_cidrs"]),
            net_remote_ports=tuple(int(p) for p in d["net_remote_ports"]),
            net_local_ports=tuple(int(p) for p in d["net_local_ports"]),
        )

    def entry_count(self) -> int:
        return (len(self.file_exact) + len(self.file_prefix) + len(self.file_base)
                + len(self.net_remote_cidrs) + len(self.net_local_cidrs)
                + len(self.net_remote_ports) + len(self.net_local_ports))


class KernelModel:
    """Python evaluation of KernelTables, exactly what bpf/jibril.bpf.c computes."""

    def __init__(self, t: KernelTables) -> None:
        self.t = t
        self._exact = dict(t.file_exact)
        self._base = dict(t.file_base)
        self._prefix = sorted(t.file_prefix, key=lambda e: -len(e[0]))
        self._rnets = [ipaddress.ip_network(c) for c in t.net_remote_cidrs]
        self._lnets = [ipaddress.ip_network(c) for c in t.net_local_cidrs]
        self._rports = set(t.net_remote_ports)
        self._lports = set(t.net_local_ports)

    def file_mask(self, path: str) -> int:
        m = self.t.file_any | self._exact.get(path, 0) | self._base.get(os.path.basename(path), 0)
        for prefix, pm in self._prefix:  # longest first: its mask holds the shorter ones
            if path.startswith(prefix):
                m |= pm
                break
        return m

    def passes_file(self, path: str, action: str) -> bool:
        return bool(self.file_mask(path) >> FILE_ACTION_BIT[action] & 1)

    def passes_flow(self, local: str, lport: int, remote: str, rport: int) -> bool:
        t = self.t
        if t.net_any or rport in self._rports or lport in self._lports:
            return True
        return _in_any(remote, self._rnets) or _in_any(local, self._lnets)

    def passes(self, event: dict[str, Any]) -> bool:
        """True when the kernel would ship this raw event to userspace."""
        flow = event.get("flow")
        if isinstance(flow, dict):
            loc, rem = flow.get("local") or {}, flow.get("remote") or {}
            return self.passes_flow(str(loc.get("address", "")), int(loc.get("port") or 0),
                                    str(rem.get("address", "")), int(rem.get("port") or 0))
        f = event.get("file")
        if not isinstance(f, dict):
            return True
        actions = f.get("actions") or []
        if isinstance(actions, str):
            actions = [a for a in actions.split("|") if a]
        path = str(f.get("file", ""))
        if "execve" in actions and self.t.exec_any:
            return True
        mask = self.file_mask(path)
        return any(mask >> FILE_ACTION_BIT[a] & 1 for a in actions if a in FILE_ACTION_BIT)


def _in_any(addr: str, nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if not nets or not addr:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in nets)
