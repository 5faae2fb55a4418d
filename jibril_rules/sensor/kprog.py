"""The kernel program of the current design (bpf/jibril.bpf.c): exec/fork/exit on sched raw
tracepoints with BTF offsets, prevent: kill at exec, and the raw_syscalls fallback.

One bcc object, two mechanisms in the plan's terms: `exec` (always attached) and `fallback`
(raw_syscalls sys_exit, plus sys_enter for descriptor actions, attached only when the plan's
fallback groups are non-zero). Tables are double-buffered by a generation bit in every key.
"""

from __future__ import annotations

import ctypes as ct
import os
import time
from typing import Any

from ..core.kernel_tables import KernelTables
from . import layout as L
from .bccload import bpf_class
from .btf import cflags as btf_cflags
from .mechanism import Host
from .plan import EXEC, FB_CLOSE, Plan

GRACE_S = 0.05
MAX_RECIPES = 16384  # JB_MAX_RECIPES: recipe_mode holds one slot per recipe and generation
TAIL = ((0, b"jb_exec_filter"), (1, b"jb_obj_filter"), (2, b"jb_path"), (3, b"jb_exec_cwd"))
ACTION = {"kill": L.PREVENT_KILL, "deny": L.PREVENT_DENY}


class KernelProgram:
    """The exec + fallback mechanisms (Mechanism protocol, name "exec")."""

    name = EXEC

    def __init__(self, ring_pages: int = 4096, extra_cflags: tuple[str, ...] = ()) -> None:
        self.ring_pages = ring_pages
        self.extra_cflags = extra_cflags
        self.b: Any = None
        self.gen = -1
        self.fb_attached: set[bytes] = set()
        self.modes: dict[int, int] = {}
        self.written: dict[int, set[int]] = {}  # gen -> recipe_mode slots set
        self.load_s = 0.0

    # -- Mechanism -------------------------------------------------------------------------
    def attach(self, host: Host, plan: Plan, tables: KernelTables) -> None:
        src = L.bpf_dir()
        flags = [f"-I{src}", "-Wno-unused-function", "-Wno-visibility",
                 f"-DJB_RB_PAGES={self.ring_pages}", *btf_cflags(), *self.extra_cflags]
        BPF = bpf_class()
        t0 = time.monotonic()
        self.b = b = BPF(src_file=str(src / L.PROGRAM).encode(), cflags=flags)
        progs = b[b"progs"]
        for idx, fn in TAIL:
            progs[ct.c_int(idx)] = ct.c_int(b.load_func(fn, BPF.RAW_TRACEPOINT).fd)
        self.self_tgid = host.self_tgid
        self.load(plan, tables)
        b.attach_raw_tracepoint(tp=b"sched_process_exec", fn_name=b"jb_exec")
        self._attach_fallback(plan.fb)
        host.add_ring(b, b"events")
        self.load_s = time.monotonic() - t0

    def reload(self, plan: Plan, tables: KernelTables) -> None:
        self._attach_fallback(plan.fb, detach=False)  # before the new tables go live
        self.load(plan, tables)
        self._attach_fallback(plan.fb)

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

    # -- fallback hooks ------------------------------------------------------------------
    def _attach_fallback(self, fb: int, detach: bool = True) -> None:
        want = set()
        if fb:
            want.add(b"sys_exit")
        if fb & FB_CLOSE:
            want.add(b"sys_enter")
        for tp in sorted(want - self.fb_attached):
            self.b.attach_raw_tracepoint(tp=tp, fn_name=b"jb_" + tp)
            self.fb_attached.add(tp)
        if detach:
            for tp in sorted(self.fb_attached - want):
                self.b.detach_raw_tracepoint(tp=tp)
                self.fb_attached.discard(tp)

    def hook_names(self) -> list[str]:
        return ["raw_tracepoint:sched_process_exec", "raw_tracepoint:sched_process_fork",
                "raw_tracepoint:sched_process_exit",
                *(f"raw_syscalls:{tp.decode()}" for tp in sorted(self.fb_attached))]

    # -- tables ----------------------------------------------------------------------------
    _MAPS = (b"fexact", b"fbase", b"fprefix", b"pexact", b"pbase")

    def _clear(self, gen: int) -> None:
        for name in self._MAPS:
            m = self.b[name]
            for k in list(m.keys()):
                kg = k.gen if hasattr(k, "gen") else int(k.value) & 1
                if kg == gen:
                    try:
                        del m[k]
                    except KeyError:
                        pass

    def _fill(self, t: KernelTables, fb: int, fbmask: int, g: int) -> int:
        b = self.b
        n = 0
        for name, entries in ((b"fexact", t.file_exact), (b"fbase", t.file_base)):
            masks: dict[int, int] = {}
            for key, mask in entries:
                h = L.hkey(L.fnv1a(os.fsencode(key)), g)
                masks[h] = masks.get(h, 0) | mask  # a collision merges masks: sound
            m = b[name]
            for h, mask in masks.items():
                m[ct.c_uint64(h)] = ct.c_uint32(mask)
                n += 1
        pm = b[b"fprefix"]
        for prefix, mask in t.file_prefix:
            raw = os.fsencode(prefix)
            if len(raw) <= L.PATH_MAX:
                pm[L.PathKey(8 * (1 + len(raw)), g, raw)] = ct.c_uint32(mask)
                n += 1
        for sel, key, rid, action in t.prevent:
            if action != "kill":  # deny: fanotify marks and cgroup programs (knet)
                continue
            m = b[b"pexact" if sel == "exact" else b"pbase"]
            m[ct.c_uint64(L.hkey(L.fnv1a(os.fsencode(key)), g))] = L.Prevent(rid, ACTION[action])
            n += 1
        file_tables = bool(t.file_any or t.file_exact or t.file_prefix or t.file_base)
        b[b"cfg2"][ct.c_int(g)] = L.Cfg2(t.file_any, int(file_tables), int(t.exec_any), fb,
                                        int(bool(t.prevent)), fbmask)
        return n

    def load(self, plan: Plan, tables: KernelTables | None = None) -> int:
        """Make plan.kernel live; the old generation stays live until the one-word flip of
        ctl[0].gen. Prevent modes of the new generation are written before the flip."""
        t = plan.kernel
        old = self.gen
        new = 0 if old != 0 else 1
        self._clear(new)
        n = self._fill(t, plan.fb, plan.fbmask, new)
        self._write_modes(new)
        self.b[b"ctl"][ct.c_int(0)] = L.Ctl(new, self.self_tgid)
        self.gen = new
        if old >= 0:
            time.sleep(GRACE_S)
            self._clear(old)
        return n

    def _write_modes(self, gen: int) -> None:
        rm = self.b[b"recipe_mode"]
        for slot in self.written.pop(gen, set()):
            rm[ct.c_int(slot)] = ct.c_uint32(L.MODE_MONITOR)
        done = self.written.setdefault(gen, set())
        for recipe, mode in self.modes.items():
            slot = gen * MAX_RECIPES + recipe % MAX_RECIPES
            rm[ct.c_int(slot)] = ct.c_uint32(mode)
            done.add(slot)

    def set_modes(self, modes: dict[int, bool]) -> None:
        """Prevent modes for the *next* load (a reload's new recipe indices)."""
        self.modes = {r: L.MODE_ENFORCE if e else L.MODE_MONITOR for r, e in modes.items()}

    def set_mode(self, recipe: int, enforce: bool) -> None:
        """Per-recipe prevent mode, live (monitor: record "would prevent", let it run)."""
        self.modes[recipe] = L.MODE_ENFORCE if enforce else L.MODE_MONITOR
        if self.b is not None and self.gen >= 0:
            slot = self.gen * MAX_RECIPES + recipe % MAX_RECIPES
            self.b[b"recipe_mode"][ct.c_int(slot)] = ct.c_uint32(self.modes[recipe])
            self.written.setdefault(self.gen, set()).add(slot)
