"""The live sensor: plan mechanisms from the tables, attach them, consume their events.

    s = Sensor(tables, on_event)   # on_event(raw_event_dict) for every event that passed
    s.start()                      # raises SensorUnavailable when it cannot run
    while ...: s.poll(100)
    s.reload(new_tables)           # contents swapped, hooks attached before / detached after
    s.close()

design="current" (default): sched raw tracepoints for processes (exec program), the
raw_syscalls fallback only for what no cheaper mechanism serves, registered optional
mechanisms (marks, cgroup_net: mechanism.register), else the previous design's network
tracepoints. design="legacy": the previous syscall-tracepoint design whole (bench only).
"""

from __future__ import annotations

import ctypes as ct
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.kernel_tables import KernelTables
from ..core.vocab import ALL_FILE_ACTIONS_MASK, MECHANISMS
from . import knetmech as _knetmech  # noqa: E402,F401,I001 - registers marks and cgroup_net
from . import mechanism as M
from .assemble import Assembler
from .bccload import preflight
from .kprog import KernelProgram
from .legacy import LegacyProgram
from .plan import EXEC, LEGACY_NET, Plan, Use, plan

EventCallback = Callable[[dict[str, Any]], None]

UNFILTERED = KernelTables(file_any=ALL_FILE_ACTIONS_MASK, exec_any=True, net_any=True)


@dataclass(frozen=True)
class LoadReport:
    gen: int
    entries: int
    seconds: float
    widened: int = 0


@dataclass(frozen=True)
class SensorStats:
    kernel: dict[str, dict[str, int]]  # sensor -> seen/sent/lost (summed over mechanisms)
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


_RINGBUF_CB = ct.CFUNCTYPE(ct.c_int, ct.c_void_p, ct.c_void_p, ct.c_int)

# libbpf's ring_buffer__poll/consume keep reading while the producer keeps writing, so under a
# flood one call never returned. A record callback returning < 0 stops the call after that
# record (consumed); the rest stay in the ring for the next turn (M.POLL_BUDGET_S).
DRAIN_BUDGET_S = 1.0  # the last read at stop: what is there, not a flood forever
_CHECK_EVERY = 64  # records between clock reads


class Sensor:
    def __init__(self, tables: KernelTables | None, on_event: EventCallback, *,
                 ring_pages: int = 4096, cflags: tuple[str, ...] = (),
                 design: str = "current") -> None:
        self.tables = tables if tables is not None else UNFILTERED
        self.on_event = on_event
        self.ring_pages = ring_pages
        self.cflags = cflags
        self.design = design
        self.asm = Assembler(self.tables)
        self.self_tgid = os.getpid()
        self.mechs: dict[str, Any] = {}
        self.available: frozenset[str] = frozenset()
        self.unavailable: dict[str, str] = {}
        self.plan: Plan | None = None
        self.records = 0
        self.callback_errors = 0
        self.last_error = ""
        self._poller: Any = None
        self._cbs: list[Any] = []
        self._lock = threading.Lock()  # poll vs. drain
        self._modes: dict[int, bool] = {}  # prevent: recipe index -> enforce
        self._deadline = float("inf")  # end of the current poll turn (M.POLL_BUDGET_S)

    @property
    def b(self) -> Any:
        """The bcc object whose ring buffers are polled (tests and tools read maps from it)."""
        return self._poller

    # -- Host (mechanism.Host) ------------------------------------------------------------
    def add_ring(self, bpf: Any, map_name: bytes) -> None:
        if self._poller is None:
            self._poller = bpf
            bpf[map_name].open_ring_buffer(self._on_record)
            return
        fn = _RINGBUF_CB(lambda ctx, data, size: self._on_record(ctx, data, size))
        self._cbs.append(fn)
        with self._lock:  # libbpf's ring manager is not thread safe: never add during a poll
            self._poller._open_ring_buffer(bpf[map_name].map_fd, fn, None)

    def file_event(self, tgid: int, path: str, actions: int, ts_ns: int = 0,
                   prevent: dict[str, Any] | None = None) -> None:
        ev = self.asm.file_action(tgid, path, actions, ts_ns)
        if ev is not None:
            if prevent is not None:  # a deny decided by a mechanism (fanotify permission)
                ev["kernel_prevent"] = prevent
            self._deliver(ev)

    def prevented(self, tgid: int, recipe: int, action: str, enforced: bool) -> None:
        self.asm.counts["prevented" if enforced else "would_prevent"] += 1

    # -- lifecycle ---------------------------------------------------------------------
    def _make_plan(self, t: KernelTables) -> Plan:
        return plan(t, self.available)

    def start(self) -> LoadReport:
        preflight()
        t0 = time.monotonic()
        self.asm.procs.seed()
        if self.design == "legacy":
            legacy = LegacyProgram(only="", ring_pages=self.ring_pages, extra_cflags=self.cflags)
            self.plan = Plan((M_use("legacy"),), self.tables, KernelTables(), 0, "")
            legacy.attach(self, self.plan, self.tables)
            self.mechs["legacy"] = legacy
            return LoadReport(legacy.loader.gen if legacy.loader else 0,
                              self.tables.entry_count(), time.monotonic() - t0)
        self.available, self.unavailable = M.available()
        self.plan = p = self._make_plan(self.tables)
        kp = KernelProgram(self.ring_pages, self.cflags)
        kp.set_modes(self._modes)
        self.mechs[EXEC] = kp
        kp.attach(self, p, self.tables)
        self._attach_optional(p)
        return LoadReport(kp.gen, p.kernel.entry_count(), time.monotonic() - t0)

    def _wanted(self, p: Plan) -> set[str]:
        want = set()
        if p.marks.file_exact or p.marks.file_prefix or any(
                a == "deny" and sel in ("open", "execve") for sel, _, _, a in p.kernel.prevent):
            want.add("marks")  # also for prevent: deny on exec (permission marks)
        if p.net:
            want.add(p.net)
        return want

    def _attach_optional(self, p: Plan) -> None:
        factories = M.registered()
        for name in sorted(self._wanted(p) - set(self.mechs)):
            if name == LEGACY_NET:
                mech: Any = LegacyProgram("net", self.ring_pages, self.cflags)
            elif name in factories:
                mech = factories[name]()
            else:
                continue
            mech.attach(self, p, self.tables)
            self.mechs[name] = mech

    def close(self) -> None:
        for name in list(self.mechs):
            try:
                self.mechs.pop(name).detach()
            except Exception:  # noqa: BLE001 - closing must finish for the others
                pass
        self._poller = None

    def __enter__(self) -> Sensor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data path ---------------------------------------------------------------------
    def _deliver(self, ev: dict[str, Any]) -> None:
        try:
            self.on_event(ev)
        except Exception as e:  # never let an exception unwind into the C callback
            self.callback_errors += 1
            self.last_error = f"{type(e).__name__}: {e}"

    def _on_record(self, _ctx: Any, data: Any, size: int) -> int:
        self.records += 1
        try:
            ev = self.asm.handle(ct.cast(data, ct.c_void_p).value or 0, size)
        except Exception as e:
            self.callback_errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            return 0
        if ev is not None:
            self._deliver(ev)
        if self.records % _CHECK_EVERY == 0 and time.monotonic() > self._deadline:
            return -1  # turn over: libbpf stops here, the next records wait in the ring
        return 0

    def _service(self) -> None:
        fds = {fd: m for m in self.mechs.values() for fd in m.fds()}
        if not fds:
            return
        ready, _, _ = select.select(list(fds), [], [], 0)
        for fd in ready:
            fds[fd].service(fd)

    def poll(self, timeout_ms: int = 100) -> None:
        """Wait up to timeout_ms, then read for at most M.POLL_BUDGET_S (a flood waits its turn)."""
        with self._lock:
            self._deadline = time.monotonic() + timeout_ms / 1000 + M.POLL_BUDGET_S
            self._poller.ring_buffer_poll(timeout_ms)
            self._service()

    def drain(self) -> None:
        with self._lock:
            self._deadline = time.monotonic() + DRAIN_BUDGET_S
            self._poller.ring_buffer_consume()
            self._service()

    def reload(self, tables: KernelTables) -> LoadReport:
        """Swap the tables without a coverage gap: new hooks first, old hooks last."""
        t0 = time.monotonic()
        if self.design == "legacy":
            self.mechs["legacy"].reload(self.plan, tables)
            self.tables = tables
            self.asm.set_tables(tables)
            return LoadReport(0, tables.entry_count(), time.monotonic() - t0)
        p = self._make_plan(tables)
        self._attach_optional(p)
        wanted = self._wanted(p)
        for name, m in self.mechs.items():
            if name in wanted or name == EXEC:
                m.reload(p, tables)
        self.tables = tables
        self.plan = p
        self.asm.set_tables(tables)
        # Mechanisms no longer needed keep their objects (their ring buffers stay registered)
        # but get empty tables, after the new ones are live: they drop their hooks.
        for name in sorted(set(self.mechs) - wanted - {EXEC}):
            self.mechs[name].reload(p, KernelTables())
        kp = self.mechs[EXEC]
        return LoadReport(kp.gen, p.kernel.entry_count(), time.monotonic() - t0)

    def set_modes(self, modes: dict[int, bool]) -> None:
        """prevent: modes (recipe index -> enforce) for the tables of the next start/reload:
        written into the new generation before it goes live."""
        self._modes = dict(modes)
        for m in self.mechs.values():
            if hasattr(m, "set_modes"):
                m.set_modes(modes)

    def set_mode(self, recipe: int, enforce: bool) -> None:
        """prevent: mode of one recipe (monitor records "would prevent"), live."""
        kp = self.mechs.get(EXEC)
        if kp is not None:
            kp.set_mode(recipe, enforce)
        for m in self.mechs.values():
            if m is not kp and hasattr(m, "set_mode"):
                m.set_mode(recipe, enforce)

    # -- reporting -----------------------------------------------------------------------
    def hooks(self) -> list[str]:
        out: list[str] = []
        keep = self._wanted(self.plan) | {EXEC, "legacy"} if self.plan is not None else set()
        for name, m in self.mechs.items():
            if name in keep:  # mechanisms reloaded empty hold no hooks
                out += m.hook_names()
        return out

    def stats(self) -> SensorStats:
        kernel: dict[str, dict[str, int]] = {}
        for m in self.mechs.values():
            for name, v in m.stats().items():
                acc = kernel.setdefault(name, {"seen": 0, "sent": 0, "lost": 0})
                for k in acc:
                    acc[k] += v.get(k, 0)
        user = dict(self.asm.counts)
        user["records"] = self.records
        user["callback_errors"] = self.callback_errors
        return SensorStats(kernel, user)


def M_use(name: str) -> Use:
    return Use(name, "everything (previous design)", "syscall tracepoints on every syscall",
               "design=legacy")
