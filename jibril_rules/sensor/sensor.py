"""The live sensor: compile and attach bpf/jibril.bpf.c, load tables, consume the ring buffer.

    s = Sensor(tables, on_event)   # on_event(raw_event_dict) for every event that passed
    s.start()                      # prints nothing; raises SensorUnavailable when it cannot run
    while ...: s.poll(100)
    s.reload(new_tables)           # map contents swapped, programs stay attached
    s.close()
"""

from __future__ import annotations

import ctypes as ct
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.kernel_tables import KernelTables
from ..core.vocab import ALL_FILE_ACTIONS_MASK, MECHANISMS
from . import layout as L
from .assemble import Assembler
from .bccload import bpf_class, preflight
from .hooks import Hooks
from .tables import LoadReport, TableLoader

EventCallback = Callable[[dict[str, Any]], None]

UNFILTERED = KernelTables(file_any=ALL_FILE_ACTIONS_MASK, exec_any=True, net_any=True)


@dataclass(frozen=True)
class SensorStats:
    kernel: dict[str, dict[str, int]]  # sensor -> seen/sent/lost
    userspace: dict[str, int]  # events per mechanism, records, callback errors
    at: float = field(default_factory=time.monotonic)

    @property
    def lost(self) -> int:
        return sum(s["lost"] for s in self.kernel.values())

    @property
    def sent(self) -> int:
        return sum(s["sent"] for s in self.kernel.values())

    @property
    def seen(self) -> int:
        return sum(s["seen"] for s in self.kernel.values())

    @property
    def events(self) -> int:
        return sum(self.userspace.get(m, 0) for m in MECHANISMS)

    def to_json(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "userspace": dict(self.userspace),
                "lost": self.lost, "sent": self.sent, "seen": self.seen, "events": self.events}


class Sensor:
    def __init__(self, tables: KernelTables | None, on_event: EventCallback, *,
                 ring_pages: int = 4096, cflags: tuple[str, ...] = ()) -> None:
        self.tables = tables if tables is not None else UNFILTERED
        self.on_event = on_event
        self.ring_pages = ring_pages
        self.cflags = cflags
        self.asm = Assembler(self.tables)
        self.b: Any = None
        self.loader: TableLoader | None = None
        self.hooks: Hooks | None = None
        self.records = 0
        self.callback_errors = 0
        self.last_error = ""
        self._lock = threading.Lock()  # poll vs. drain

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> LoadReport:
        preflight()
        src = L.bpf_dir()
        flags = [f"-I{src}", "-Wno-unused-function", "-Wno-visibility",
                 f"-DJB_RB_PAGES={self.ring_pages}", *self.cflags]
        BPF = bpf_class()
        # ctl[0] must name us before programs see events; they ignore everything until the
        # ctl and cfg entries exist (cfg lookups of a zeroed array entry pass nothing).
        self.b = BPF(src_file=str(src / L.PROGRAM).encode(), cflags=flags)
        self.loader = TableLoader(self.b, os.getpid())
        self.hooks = Hooks(self.b)
        self.asm.procs.seed()
        report = self.loader.load(self.tables)
        self.hooks.detach_except(self.hooks.want(self.tables))
        self.b[b"events"].open_ring_buffer(self._on_record)
        return report

    def close(self) -> None:
        if self.b is not None:
            self.b.cleanup()
            self.b = None

    def __enter__(self) -> Sensor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data path ---------------------------------------------------------------------
    def _on_record(self, _ctx: Any, data: Any, size: int) -> int:
        self.records += 1
        try:
            ev = self.asm.handle(ct.cast(data, ct.c_void_p).value or 0, size)
            if ev is not None:
                self.on_event(ev)
        except Exception as e:  # never let an exception unwind into the C callback
            self.callback_errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
        return 0

    def poll(self, timeout_ms: int = 100) -> None:
        with self._lock:
            self.b.ring_buffer_poll(timeout_ms)

    def drain(self) -> None:
        with self._lock:
            self.b.ring_buffer_consume()

    def reload(self, tables: KernelTables) -> LoadReport:
        """Swap the kernel tables without detaching anything (no coverage gap)."""
        assert self.loader is not None and self.hooks is not None, "start() first"
        want = self.hooks.want(tables)
        self.hooks.attach(want)  # before the new tables go live: no gap in coverage
        report = self.loader.load(tables)
        # Single attribute stores: the poll thread sees the old or the new model, never half
        # of one. No lock, so a reload is never starved by a busy poll loop.
        self.tables = tables
        self.asm.set_tables(tables)
        self.hooks.detach_except(want)
        return report

    # -- stats -------------------------------------------------------------------------
    def stats(self) -> SensorStats:
        kernel: dict[str, dict[str, int]] = {}
        if self.b is not None:
            st = self.b[b"stats"]
            for i, name in enumerate(L.SENSORS):
                vals = []
                for k in range(L.NSTATS):
                    v = st[ct.c_int(i * L.NSTATS + k)]
                    vals.append(int(sum(v)))
                kernel[name] = {"seen": vals[0], "sent": vals[1], "lost": vals[2]}
        user = dict(self.asm.counts)
        user["records"] = self.records
        user["callback_errors"] = self.callback_errors
        return SensorStats(kernel, user)
