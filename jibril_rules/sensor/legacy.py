"""The previous design (bpf/legacy.bpf.c: syscalls:* tracepoints) as a mechanism.

Kept for two uses: `Sensor(design="legacy")`, the bench's comparison point, and the network
part (`only="net"`) while no cgroup v2 network mechanism is registered. Any syscalls:*
tracepoint puts every syscall of every task on the tracing slow path (+39-83 ns each, see
docs/sensor.md), so the current design attaches it only for network recipes.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

from ..core.kernel_tables import KernelTables
from . import layout as L
from .bccload import bpf_class
from .hooks import Hooks
from .mechanism import Host
from .plan import LEGACY_NET, Plan
from .tables import TableLoader


def net_only(t: KernelTables) -> KernelTables:
    return KernelTables(net_any=t.net_any, net_remote_cidrs=t.net_remote_cidrs,
                        net_local_cidrs=t.net_local_cidrs, net_remote_ports=t.net_remote_ports,
                        net_local_ports=t.net_local_ports)


class LegacyProgram:
    """only="net": the network sensors alone; only="": the whole previous design."""

    def __init__(self, only: str = "net", ring_pages: int = 4096,
                 extra_cflags: tuple[str, ...] = ()) -> None:
        self.name = LEGACY_NET if only == "net" else "legacy"
        self.only = only
        self.ring_pages = ring_pages
        self.extra_cflags = extra_cflags
        self.b: Any = None
        self.loader: TableLoader | None = None
        self.hooks: Hooks | None = None
        self.load_s = 0.0

    def _tables(self, t: KernelTables) -> KernelTables:
        return net_only(t) if self.only == "net" else replace(t, prevent=())

    def _groups(self, t: KernelTables) -> set[str] | None:
        return {"net", "fd_track"} if self.only == "net" else None

    def attach(self, host: Host, plan: Plan, tables: KernelTables) -> None:
        src = L.bpf_dir()
        flags = [f"-I{src}", "-Wno-unused-function", "-Wno-visibility",
                 f"-DJB_RB_PAGES={self.ring_pages}", *self.extra_cflags]
        t0 = time.monotonic()
        self.b = bpf_class()(src_file=str(src / L.LEGACY_PROGRAM).encode(), cflags=flags)
        self.loader = TableLoader(self.b, host.self_tgid or os.getpid())
        self.hooks = Hooks(self.b)
        t = self._tables(tables)
        self.loader.load(t)
        self.hooks.detach_except(self.hooks.want(t, self._groups(t)))
        host.add_ring(self.b, b"events")
        self.load_s = time.monotonic() - t0

    def reload(self, plan: Plan, tables: KernelTables) -> None:
        assert self.loader is not None and self.hooks is not None
        t = self._tables(tables)
        want = self.hooks.want(t, self._groups(t))
        self.hooks.attach(want)
        self.loader.load(t)
        self.hooks.detach_except(want)

    def detach(self) -> None:
        if self.b is not None:
            self.b.cleanup()
            self.b = None

    def stats(self) -> dict[str, dict[str, int]]:
        return {} if self.b is None else L.read_stats(self.b)

    def fds(self) -> list[int]:
        return []

    def service(self, fd: int) -> None:
        pass

    def hook_names(self) -> list[str]:
        return sorted("syscalls:" + tp.decode().split(":", 1)[1] if tp.startswith(b"syscalls") else tp.decode()
                      for tp in (self.hooks.attached if self.hooks else ()))
