"""Network mechanism: cgroup v2 sock_addr + skb programs (bpf/jibril_cgroup.bpf.c).

    net = CgroupNet(tables, on_record)      # on_record(kind, record) for flow and DNS records
    net.start()                             # mount a private cgroup2 root, load, attach
    net.set_deny(rules, netns_cookie=0)     # prevent: deny (connect/sendmsg -> EPERM)
    net.poll(0); net.reload(tables); net.close()

This host mounts cgroup v1 under /sys/fs/cgroup, so the agent mounts the unified (v2)
hierarchy itself under a unique directory and attaches to its root, where every process
is (`0::/`). Programs are attached with BPF_F_ALLOW_MULTI so other cgroup programs keep
running. Costs only socket operations (connect, sendmsg, bind, UDP receive from port 53,
TCP state changes); other syscalls pay nothing.
"""

from __future__ import annotations

import ctypes as ct
import ipaddress
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..core.kernel_tables import KernelTables
from . import layout as L
from .bccload import SensorUnavailable, import_bcc

GRACE_S = 0.05
BPF_F_ALLOW_MULTI = 2
MNT_DETACH = 2
CG_RUN_DIR = "/run/jibril-rules"

RecordCallback = Callable[[int, Any], None]


@dataclass(frozen=True)
class NetDenyRule:
    """One `prevent: deny` recipe the kernel decides whole: the remote address is in
    `cidrs` (empty: any) and the remote port in `ports` (empty: any)."""

    recipe: str
    cidrs: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    enforce: bool = True


@dataclass(frozen=True)
class NetLoadReport:
    gen: int
    entries: int
    seconds: float


def _libc() -> Any:
    return ct.CDLL("libc.so.6", use_errno=True)


def mount_cgroup2() -> str:
    """Mount the cgroup2 hierarchy under a fresh unique directory; returns the directory."""
    os.makedirs(CG_RUN_DIR, mode=0o700, exist_ok=True)
    d = tempfile.mkdtemp(prefix=f"cg2-{os.getpid()}-", dir=CG_RUN_DIR)
    if _libc().mount(b"none", d.encode(), b"cgroup2", 0, None) != 0:
        err = ct.get_errno()
        os.rmdir(d)
        raise SensorUnavailable(f"cannot mount cgroup2 on {d}: {os.strerror(err)} (the kernel "
                                "needs CONFIG_CGROUPS with cgroup v2; network events need it)")
    return d


def umount_cgroup2(d: str) -> None:
    _libc().umount2(d.encode(), MNT_DETACH)
    try:
        os.rmdir(d)
    except OSError:
        pass


def deny_entries(rules: tuple[NetDenyRule, ...]) -> tuple[dict[tuple[int, int, bytes], int],
                                                           dict[int, int], int, int, int]:
    """(cidr entries -> rule bits, port -> bits, any_cidr, any_port, enforce) for the maps.

    An LPM lookup returns only the longest matching prefix, so each prefix's bits include
    those of every shorter prefix that contains it (a rule on 10/8 still holds inside 10.1/16).
    """
    if len(rules) > L.MAX_DENY:
        raise ValueError(f"{len(rules)} prevent: deny network recipes; the kernel holds "
                         f"at most {L.MAX_DENY}")
    nets: dict[Any, int] = {}
    ports: dict[int, int] = {}
    any_cidr = any_port = enforce = 0
    for i, r in enumerate(rules):
        bit = 1 << i
        if r.enforce:
            enforce |= bit
        if not r.cidrs:
            any_cidr |= bit
        for c in r.cidrs:
            n = ipaddress.ip_network(c, strict=False)
            if isinstance(n, ipaddress.IPv6Network) and n.network_address.ipv4_mapped:
                n = ipaddress.ip_network(f"{n.network_address.ipv4_mapped}/"
                                         f"{max(n.prefixlen - 96, 0)}")
            nets[n] = nets.get(n, 0) | bit
        if not r.ports:
            any_port |= bit
        for p in r.ports:
            ports[int(p) & 0xFFFF] = ports.get(int(p) & 0xFFFF, 0) | bit
    out: dict[tuple[int, int, bytes], int] = {}
    for n, bits in nets.items():
        for m, more in nets.items():
            if m.version == n.version and m.prefixlen < n.prefixlen and n.subnet_of(m):  # type: ignore[arg-type]
                bits |= more
        out[(n.version, n.prefixlen, n.network_address.packed)] = bits
    return out, ports, any_cidr, any_port, enforce


class CgroupNet:
    """Owns one loaded bpf/jibril_cgroup.bpf.c, its cgroup2 mount and its tables."""

    PROGRAMS = (  # function, program type name, attach type name
        ("jb_connect4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT"),
        ("jb_connect6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_CONNECT"),
        ("jb_sendmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_SENDMSG"),
        ("jb_sendmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_SENDMSG"),
        ("jb_bind4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_BIND"),
        ("jb_bind6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_BIND"),
        ("jb_skb_ingress", "CGROUP_SKB", "CGROUP_INET_INGRESS"),
    )

    def __init__(self, tables: KernelTables, on_record: RecordCallback, *,
                 ring_pages: int = 1024, self_tgid: int | None = None) -> None:
        self.tables = tables
        self.on_record = on_record
        self.ring_pages = ring_pages
        self.self_tgid = os.getpid() if self_tgid is None else self_tgid
        self.b: Any = None
        self.cg_dir = ""
        self._cg_fd = -1
        self._attached: list[tuple[Any, int]] = []
        self._fns: list[tuple[Any, int]] = []
        self.gen = -1
        self.deny: tuple[NetDenyRule, ...] = ()
        self.netns_cookie = 0
        self.domains: set[str] = set()
        self.records = 0
        self.callback_errors = 0
        self.last_error = ""
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, add_ring: Callable[[Any, bytes], None] | None = None) -> NetLoadReport:
        """add_ring(bpf, map): hand the ring buffer to the sensor's poller (else poll())."""
        bcc = import_bcc()
        src = L.bpf_dir()
        flags = [f"-I{src}", "-Wno-unused-function", f"-DJB_RB_PAGES={self.ring_pages}"]
        self.b = bcc.BPF(src_file=str(src / L.CGROUP_PROGRAM).encode(), cflags=flags)
        rep = self.load(self.tables)  # tables before attach: programs never see a zero ctl
        self.cg_dir = mount_cgroup2()
        try:
            self._cg_fd = os.open(self.cg_dir, os.O_RDONLY | os.O_DIRECTORY)
            for fn_name, ptype, atype in self.PROGRAMS:
                at = getattr(bcc.BPFAttachType, atype)
                fn = self.b.load_func(fn_name.encode(), getattr(bcc.BPF, ptype), attach_type=at)
                self._fns.append((fn, at))
            self.set_attached(True)
        except Exception as e:
            self.close()
            if isinstance(e, SensorUnavailable):
                raise
            raise SensorUnavailable(f"cannot attach the cgroup network programs: {e}") from e
        if add_ring is not None:
            add_ring(self.b, b"events")
        else:
            self.b[b"events"].open_ring_buffer(self._on_ring)
        return rep

    def close(self) -> None:
        if self.b is not None:
            for fn, at in self._attached:
                try:
                    self.b.detach_func(fn, self._cg_fd, at)
                except Exception:  # noqa: S110 - closing the cgroup fd detaches too
                    pass
            self._attached = []
        if self._cg_fd >= 0:
            os.close(self._cg_fd)
            self._cg_fd = -1
        if self.cg_dir:
            umount_cgroup2(self.cg_dir)
            self.cg_dir = ""
        if self.b is not None:
            self.b.cleanup()
            self.b = None

    def __enter__(self) -> CgroupNet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def attached(self) -> int:
        """Programs attached now (cgroup programs and the TCP state tracepoint)."""
        return len(self._attached) + len(getattr(self.b, "tracepoint_fds", {}) or {})

    # -- data path ---------------------------------------------------------------------
    def _on_ring(self, _ctx: Any, data: Any, size: int) -> int:
        self.records += 1
        try:
            addr = ct.cast(data, ct.c_void_p).value or 0
            kind = ct.c_uint32.from_address(addr).value
            cls = L.RECORDS.get(kind)
            if cls is not None and size >= ct.sizeof(cls):
                self.on_record(kind, cls.from_buffer_copy(ct.string_at(addr, ct.sizeof(cls))))
        except Exception as e:  # never unwind into the C callback
            self.callback_errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
        return 0

    def poll(self, timeout_ms: int = 0) -> None:
        with self._lock:
            self.b.ring_buffer_poll(timeout_ms)

    def drain(self) -> None:
        with self._lock:
            self.b.ring_buffer_consume()

    def deny_rule(self, rec: L.FlowEvent) -> NetDenyRule | None:
        """The deny rule that fired for a flow record (None: no rule fired)."""
        idx = int(rec._pad)
        if not rec.flags & (1 << L.FF_DENIED | 1 << L.FF_WOULD_DENY) or not idx:
            return None
        return self.deny[idx - 1] if idx <= len(self.deny) else None

    # -- tables ------------------------------------------------------------------------
    def _maps(self) -> list[Any]:
        b = self.b
        return [b[b"net_rcidr"], b[b"net_lcidr"], b[b"net_ports"], b[b"deny_cidr"],
                b[b"deny_port"]]

    def _clear(self, gen: int) -> None:
        for m in self._maps():
            for k in [k for k in m.keys() if k.gen == gen]:
                try:
                    del m[k]
                except KeyError:
                    pass

    @staticmethod
    def _cidr_key(version: int, plen: int, raw: bytes, g: int) -> L.CidrKey:
        key = L.CidrKey()
        key.prefixlen = 32 + plen
        key.gen = g
        key.family = version
        ct.memmove(key.addr, raw, len(raw))
        return key

    def _fill(self, t: KernelTables, g: int) -> int:
        b = self.b
        n = 0
        for name, cidrs in ((b"net_rcidr", t.net_remote_cidrs), (b"net_lcidr", t.net_local_cidrs)):
            m = b[name]
            for c in cidrs:
                net = ipaddress.ip_network(c, strict=False)
                m[self._cidr_key(net.version, net.prefixlen, net.network_address.packed, g)] = \
                    ct.c_uint8(1)
                n += 1
        ports = b[b"net_ports"]
        for remote, plist in ((1, t.net_remote_ports), (0, t.net_local_ports)):
            for p in plist:
                ports[L.PortKey(int(p) & 0xFFFF, g, remote)] = ct.c_uint8(1)
                n += 1
        nets, dports, any_cidr, any_port, enforce = deny_entries(self.deny)
        dm = b[b"deny_cidr"]
        for (ver, plen, raw), bits in nets.items():
            dm[self._cidr_key(ver, plen, raw, g)] = ct.c_uint64(bits)
            n += 1
        dp = b[b"deny_port"]
        for port, bits in dports.items():
            dp[L.PortKey(port, g, 1)] = ct.c_uint64(bits)
            n += 1
        net_tables = bool(t.net_remote_cidrs or t.net_local_cidrs or t.net_remote_ports
                          or t.net_local_ports)
        b[b"cfg"][ct.c_int(g)] = L.Cfg(0, 0, 0, int(t.net_any), int(net_tables), 0)
        b[b"deny_cfg"][ct.c_int(g)] = L.DenyCfg(
            (1 << len(self.deny)) - 1, enforce, any_cidr, any_port, self.netns_cookie,
            int(bool(self.domains)))
        return n

    def load(self, t: KernelTables) -> NetLoadReport:
        """Make `t` (and the current deny rules) live with one flip of ctl[0].gen."""
        t0 = time.monotonic()
        old = self.gen
        new = 0 if old != 0 else 1
        self._clear(new)
        n = self._fill(t, new)
        self.b[b"ctl"][ct.c_int(0)] = L.Ctl(new, self.self_tgid)
        self.gen = new
        self.tables = t
        if old >= 0:
            time.sleep(GRACE_S)
            self._clear(old)
        return NetLoadReport(new, n, time.monotonic() - t0)

    reload = load

    def set_attached(self, on: bool) -> None:
        """Attach or detach the cgroup programs (a bundle without network recipes pays
        nothing per connect); the loaded programs and maps stay."""
        tp = b"sock:inet_sock_set_state"
        if on and not self._attached:
            for fn, at in self._fns:
                self.b.attach_func(fn, self._cg_fd, at, flags=BPF_F_ALLOW_MULTI)
                self._attached.append((fn, at))
            if tp not in self.b.tracepoint_fds:
                self.b.attach_tracepoint(tp=tp, fn_name=b"tracepoint__sock__inet_sock_set_state")
        elif not on:
            if tp in self.b.tracepoint_fds:
                self.b.detach_tracepoint(tp=tp)
            for fn, at in self._attached:
                try:
                    self.b.detach_func(fn, self._cg_fd, at)
                except Exception:  # noqa: S110 - closing the cgroup fd detaches too
                    pass
            self._attached = []

    @property
    def tables_in_use(self) -> bool:
        """False after a reload to a bundle without network recipes (programs pass all)."""
        t = self.tables
        return bool(t.net_any or t.net_remote_cidrs or t.net_local_cidrs or t.net_remote_ports
                    or t.net_local_ports or self.deny)

    def set_deny(self, rules: Iterable[NetDenyRule], netns_cookie: int = 0) -> NetLoadReport:
        """Replace the prevent: deny rules (a reload of the same tables: no gap)."""
        rules = tuple(rules)
        deny_entries(rules)  # validate before anything changes
        self.deny = rules
        self.netns_cookie = netns_cookie
        return self.load(self.tables)

    def set_enforce(self, recipe: str | None, enforce: bool) -> None:
        """Switch monitor/enforce live (one recipe, or all with None): one word per table."""
        self.deny = tuple(NetDenyRule(r.recipe, r.cidrs, r.ports, enforce)
                          if recipe is None or r.recipe == recipe else r for r in self.deny)
        mask = sum(1 << i for i, r in enumerate(self.deny) if r.enforce)
        dc = self.b[b"deny_cfg"]
        for g in (0, 1):
            cur = dc[ct.c_int(g)]
            cur.enforce = mask
            dc[ct.c_int(g)] = cur

    def block_domain(self, domain: str) -> bool:
        """Drop, from now on, DNS answers whose question is exactly `domain` (lowercase, as
        resolvers send it). False when the name does not fit the kernel key (64 bytes):
        then only the userspace path (addresses learned from answers) blocks it."""
        wire = L.qname_wire(domain)
        if len(wire) < 2 or len(wire) > L.QNAME_KEY:
            return False
        key = L.QnameKey()
        key.prefixlen = 8 * len(wire)
        ct.memmove(key.name, wire, len(wire))
        self.b[b"block_dom"][key] = ct.c_uint8(1)
        self.domains.add(domain.strip().strip(".").lower())
        dc = self.b[b"deny_cfg"]
        for g in (0, 1):
            cur = dc[ct.c_int(g)]
            cur.domains = 1
            dc[ct.c_int(g)] = cur
        return True

    # -- stats -------------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, int]]:
        return {} if self.b is None else L.read_stats(self.b, ("net", "dns"))


def netns_cookie_of(netns: str) -> int:
    """SO_NETNS_COOKIE of a named network namespace (ip netns), for scoping deny rules."""
    import subprocess
    import sys
    code = ("import socket,struct;s=socket.socket();"
            "print(struct.unpack('Q',s.getsockopt(socket.SOL_SOCKET,71,8))[0])")
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=10, check=False)
    if r.returncode != 0:
        raise ValueError(f"cannot read the cookie of netns {netns}: {r.stderr.strip()}")
    return int(r.stdout.strip())
