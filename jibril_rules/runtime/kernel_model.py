"""The in-kernel prefilter evaluated in Python: what bpf/jibril.bpf.c computes from the tables."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..core.kernel_tables import KernelTables
from ..core.vocab import FILE_ACTION_BIT


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
