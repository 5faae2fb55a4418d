"""Kernel prefilter tables: the data that drives the one fixed BPF program.

The compiler builds them (compiler/split.py), the bundle carries them, the sensor loads them
into the BPF maps, and runtime/kernel_model.py evaluates them in replay exactly as the kernel
does (tests/test_sensor_* check the C side against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kheader import const

# Longest path the kernel tables can judge (bpf/jibril_events.h). A basename has no limit of
# its own: the program hashes the last component of every path it judges.
MAX_PATH = const("JB_PATH_MAX")


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
    # prevent: (selector "exact"|"base", key, recipe index, action "kill"|"deny"): the kernel
    # decides these recipes whole (compiler/prevent.py) and acts inline.
    prevent: tuple[tuple[str, str, int, str], ...] = ()

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
        } | ({"prevent": [list(e) for e in self.prevent]} if self.prevent else {})

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
            prevent=tuple((str(s), str(k), int(i), str(a)) for s, k, i, a in d.get("prevent", [])),
        )

    def entry_count(self) -> int:
        return (len(self.file_exact) + len(self.file_prefix) + len(self.file_base)
                + len(self.net_remote_cidrs) + len(self.net_local_cidrs)
                + len(self.net_remote_ports) + len(self.net_local_ports))
