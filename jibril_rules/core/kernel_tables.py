"""Kernel prefilter tables: the data that drives the one fixed BPF program.

The same tables are evaluated by `passes()` in replay, so the kernel model and the kernel
agree by construction (tests/test_sensor_* check the C side against this).
"""

from __future__ import annotations

import ipaddress
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
    """Python evaluation of KernelTables, exactly what bpf/jibril.bpf.c computes.

    Lookups are hash probes per distinct prefix length, like an LPM trie: the cost does not
    grow with the number of entries.
    """

    def __init__(self, t: KernelTables) -> None:
        self.t = t
        self._exact = dict(t.file_exact)
        self._base = dict(t.file_base)
        self._prefix = dict(t.file_prefix)
        self._plens = sorted({len(p) for p in self._prefix}, reverse=True)
        self._rnets = _net_index(t.net_remote_cidrs)
        self._lnets = _net_index(t.net_local_cidrs)
        self._rports = set(t.net_remote_ports)
        self._lports = set(t.net_local_ports)

    def file_mask(self, path: str) -> int:
        m = self.t.file_any | self._exact.get(path, 0)
        if self._base:
            m |= self._base.get(path[path.rfind("/") + 1:], 0)
        n = len(path)
        for ln in self._plens:  # longest first: its mask holds the shorter ones
            if ln <= n:
                pm = self._prefix.get(path[:ln])
                if pm is not None:
                    return m | pm
        return m

    def passes_file(self, path: str, action: str) -> bool:
        return bool(self.file_mask(path) >> FILE_ACTION_BIT[action] & 1)

    def passes_flow(self, local: str, lport: int, remote: str, rport: int) -> bool:
        t = self.t
        if t.net_any or rport in self._rports or lport in self._lports:
            return True
        return _in_index(remote, self._rnets) or _in_index(local, self._lnets)

    def passes(self, event: dict[str, Any]) -> bool:
        """True when the kernel would ship this raw event to userspace."""
        flow = event.get("flow")
        if isinstance(flow, dict):
            loc, rem = flow.get("local") or {}, flow.get("remote") or {}
            return self.passes_flow(str(loc.get("address", "")), _port(loc.get("port")),
                                    str(rem.get("address", "")), _port(rem.get("port")))
        f = event.get("file")
        if not isinstance(f, dict):
            return True
        actions = f.get("actions") or []
        if isinstance(actions, str):
            actions = [a for a in actions.split("|") if a]
        if "execve" in actions and self.t.exec_any:
            return True
        mask = self.file_mask(str(f.get("file", "")))
        for a in actions:
            bit = FILE_ACTION_BIT.get(a)
            if bit is not None and mask >> bit & 1:
                return True
        return False


NetIndex = list[tuple[int, int, set[int]]]  # (version, prefix length, network ints)


def _net_index(cidrs: tuple[str, ...]) -> NetIndex:
    groups: dict[tuple[int, int], set[int]] = {}
    for c in cidrs:
        n = ipaddress.ip_network(c, strict=False)
        groups.setdefault((n.version, n.prefixlen), set()).add(int(n.network_address))
    return [(v, plen, nets) for (v, plen), nets in sorted(groups.items())]


def _in_index(addr: str, index: NetIndex) -> bool:
    if not index or not addr:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    value, bits = int(ip), ip.max_prefixlen
    for version, plen, nets in index:
        if version == ip.version and (value >> (bits - plen) << (bits - plen)) in nets:
            return True
    return False


def _port(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0
