"""Fill the BPF maps from KernelTables, and swap them on reload without detaching.

Every key carries a generation (0/1); ctl[0].gen names the live one. A reload fills the idle
generation, flips ctl[0].gen (one 4-byte word: BPF programs see the old or the new tables,
never a mix or nothing), waits for programs in flight, then deletes the old generation.
"""

from __future__ import annotations

import ctypes as ct
import ipaddress
import os
import time
from dataclasses import dataclass
from typing import Any

from ..core.kernel_tables import KernelTables
from . import layout as L

GRACE_S = 0.05  # BPF programs run for microseconds; old entries outlive the flip by this


@dataclass(frozen=True)
class LoadReport:
    gen: int
    entries: int
    seconds: float
    widened: int  # entries the kernel cannot hold (too long): covered by pass-through rules


def _path_bytes(p: str) -> bytes:
    return os.fsencode(p)


class TableLoader:
    """Owns the table maps of one loaded program (a bcc.BPF object)."""

    def __init__(self, bpf: Any, self_tgid: int) -> None:
        self.b = bpf
        self.self_tgid = self_tgid
        self.gen = -1  # nothing loaded yet

    def _maps(self) -> list[Any]:
        b = self.b
        return [b[b"file_exact"], b[b"file_base"], b[b"file_prefix"], b[b"net_rcidr"],
                b[b"net_lcidr"], b[b"net_ports"]]

    def _clear(self, gen: int) -> None:
        for m in self._maps():
            stale = [k for k in m.keys() if k.gen == gen]
            for k in stale:
                try:
                    del m[k]
                except KeyError:
                    pass

    def _fill(self, t: KernelTables, g: int) -> tuple[int, int]:
        b = self.b
        n = widened = 0
        masks: dict[int, int] = {}
        for path, mask in t.file_exact:
            h = L.fnv1a(_path_bytes(path))
            masks[h] = masks.get(h, 0) | mask  # a hash collision merges masks: sound
        ex = b[b"file_exact"]
        for h, mask in masks.items():
            ex[L.HKey(h, g)] = ct.c_uint32(mask)
            n += 1
        masks = {}
        for base, mask in t.file_base:
            h = L.fnv1a(_path_bytes(base))
            masks[h] = masks.get(h, 0) | mask
        bm = b[b"file_base"]
        for h, mask in masks.items():
            bm[L.HKey(h, g)] = ct.c_uint32(mask)
            n += 1
        pm = b[b"file_prefix"]
        for prefix, mask in t.file_prefix:
            raw = _path_bytes(prefix)
            if len(raw) > L.PATH_MAX:
                widened += 1  # longer paths are passed whole by the kernel (truncated)
                continue
            pm[L.PathKey(8 * (1 + len(raw)), g, raw)] = ct.c_uint32(mask)
            n += 1
        for name, cidrs in ((b"net_rcidr", t.net_remote_cidrs), (b"net_lcidr", t.net_local_cidrs)):
            m = b[name]
            for c in cidrs:
                net = ipaddress.ip_network(c, strict=False)
                key = L.CidrKey()
                key.prefixlen = 32 + net.prefixlen
                key.gen = g
                key.family = net.version
                raw = net.network_address.packed
                ct.memmove(key.addr, raw, len(raw))
                m[key] = ct.c_uint8(1)
                n += 1
        ports = b[b"net_ports"]
        for remote, plist in ((1, t.net_remote_ports), (0, t.net_local_ports)):
            for p in plist:
                ports[L.PortKey(int(p) & 0xFFFF, g, remote)] = ct.c_uint8(1)
                n += 1
        file_tables = bool(t.file_any or t.file_exact or t.file_prefix or t.file_base)
        net_tables = bool(t.net_remote_cidrs or t.net_local_cidrs or t.net_remote_ports
                          or t.net_local_ports)
        b[b"cfg"][ct.c_int(g)] = L.Cfg(t.file_any, int(file_tables), int(t.exec_any),
                                      int(t.net_any), int(net_tables), 0)
        return n, widened

    def load(self, t: KernelTables) -> LoadReport:
        """Make `t` live. The previous tables stay live until the single flip."""
        t0 = time.monotonic()
        old = self.gen
        new = 0 if old != 0 else 1
        self._clear(new)
        n, widened = self._fill(t, new)
        self.b[b"ctl"][ct.c_int(0)] = L.Ctl(new, self.self_tgid)
        self.gen = new
        if old >= 0:
            time.sleep(GRACE_S)
            self._clear(old)
        return LoadReport(new, n, time.monotonic() - t0, widened)
