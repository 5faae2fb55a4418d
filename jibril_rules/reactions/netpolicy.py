"""Network blocking through an nftables `inet` table of our own.

    table inet <net_table> {
      set block4 { type ipv4_addr; flags timeout; }
      set block6 { type ipv6_addr; flags timeout; }
      chains input / output / forward (priority -10): drop saddr/daddr in the sets
    }

`NetBlockIpTimer` adds an element with a per-element timeout: the kernel removes it, no
timer thread is needed. Loopback, unspecified, link-local multicast and the configured
allowlist ranges are never blocked. All commands can run inside a network namespace
(`ReactionConfig.net_netns`), which is how the tests exercise real blocking safely.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_BLOCKS_PER_MINUTE = 120  # a flood of events cannot turn into a flood of nft rules
MAX_TARGETS_PER_CALL = 64  # NetBlockIp() of an event with thousands of flows
ALWAYS_ALLOWED = ("127.0.0.0/8", "::1/128", "0.0.0.0/32", "::/128", "ff02::/16")
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
_NETNS_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class NetError(Exception):
    """A refused or failed network operation (its message becomes Errno())."""


def parse_ip(text: str) -> IpAddr:
    try:
        addr = ipaddress.ip_address(str(text).strip().strip("[]"))
    except ValueError:
        raise NetError(f"invalid IP address {text!r}") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class NetPolicy:
    def __init__(self, enabled: bool, table: str = "jibril_rules", netns: str | None = None,
                 allowlist: Iterable[str] = (), timeout_s: float = 5.0) -> None:
        if not _TABLE_RE.match(table):
            raise ValueError(f"invalid nftables table name {table!r}")
        if netns is not None and not _NETNS_RE.match(netns):
            raise ValueError(f"invalid network namespace name {netns!r}")
        self.enabled = enabled
        self.table = table
        self.netns = netns
        self.timeout_s = timeout_s
        self.allow = [ipaddress.ip_network(n, strict=False) for n in (*ALWAYS_ALLOWED, *allowlist)]
        self._nft = shutil.which("nft") or next(
            (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
        self._ready = False
        self._lock = threading.Lock()
        # check-then-act of block/unblock is one step: parallel reactions on one address
        # (several events of one flow) see 0 once and 1 after, never a failed delete
        self._act = threading.Lock()
        self._recent: deque[float] = deque()
        self.domains: set[str] = set()  # NetBlockDomain: blocked, also for later answers
        self.later_blocked = 0
        # f(domain): the sensor drops later DNS answers for it in the kernel (cgroup_skb)
        self.domain_sinks: list[Callable[[str], object]] = []

    # -- plumbing ------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if not self.enabled:
            return "network policy is disabled by configuration (netpolicy: false)"
        if self._nft is None:
            return "nftables (nft) is not installed"
        return None

    def _cmd(self) -> list[str]:
        assert self._nft is not None
        if self.netns:
            return ["ip", "netns", "exec", self.netns, self._nft]
        return [self._nft]

    def _run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([*self._cmd(), *args], input=stdin, capture_output=True,
                                  text=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NetError(f"nft failed: {exc}") from None

    def ensure(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise NetError(reason)
        with self._lock:
            if self._ready:
                return
            t = self.table
            script = f"""
table inet {t} {{
  set block4 {{ type ipv4_addr; flags timeout; }}
  set block6 {{ type ipv6_addr; flags timeout; }}
  chain input {{ type filter hook input priority -10; policy accept;
    ip saddr @block4 drop; ip6 saddr @block6 drop; }}
  chain output {{ type filter hook output priority -10; policy accept;
    ip daddr @block4 drop; ip6 daddr @block6 drop; }}
  chain forward {{ type filter hook forward priority -10; policy accept;
    ip saddr @block4 drop; ip daddr @block4 drop; ip6 saddr @block6 drop; ip6 daddr @block6 drop; }}
}}
"""
            probe = self._run(["list", "table", "inet", t])
            if probe.returncode != 0:
                res = self._run(["-f", "-"], stdin=script)
                if res.returncode != 0:
                    raise NetError(f"cannot create nftables table {t}: {res.stderr.strip()}")
            self._ready = True

    def remove_table(self) -> None:
        if self._nft is None:
            return
        self._run(["delete", "table", "inet", self.table])
        self._ready = False

    # -- checks ----------------------------------------------------------------------
    def check_target(self, text: str) -> IpAddr:
        addr = parse_ip(text)
        for net in self.allow:
            if addr.version == net.version and addr in net:
                raise NetError(f"refusing to block {addr}: allowlisted ({net})")
        if addr.is_multicast:
            raise NetError(f"refusing to block multicast address {addr}")
        return addr

    def charge(self) -> None:
        """Count one block (checked and rehearsed ones too); NetError past the rate bound."""
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 60.0:
                self._recent.popleft()
            if len(self._recent) >= MAX_BLOCKS_PER_MINUTE:
                raise NetError(f"rate bound: at most {MAX_BLOCKS_PER_MINUTE} blocks a minute")
            self._recent.append(now)

    def _set(self, addr: IpAddr) -> str:
        return "block4" if addr.version == 4 else "block6"

    def is_blocked(self, addr: IpAddr) -> bool:
        res = self._run(["get", "element", "inet", self.table, self._set(addr), f"{{ {addr} }}"])
        return res.returncode == 0

    # -- actions ---------------------------------------------------------------------
    def block(self, text: str, timeout_s: int | None = None) -> int:
        """0 blocked, 1 already blocked; raises NetError."""
        addr = self.check_target(text)
        self.ensure()
        with self._act:
            if self.is_blocked(addr):
                return 1
            elem = f"{addr} timeout {int(timeout_s)}s" if timeout_s else str(addr)
            res = self._run(["add", "element", "inet", self.table, self._set(addr),
                             f"{{ {elem} }}"])
        if res.returncode != 0:
            raise NetError(f"cannot block {addr}: {_first_line(res.stderr)}")
        return 0

    def block_domain(self, domain: str) -> None:
        """Remember `domain`: every address a DNS answer gives it (or a name under it)
        from now on is blocked too (learned(), fed by the sensor's DNS answers)."""
        d = str(domain).strip().rstrip(".").lower()
        if d and d not in self.domains:
            self.domains.add(d)
            for sink in self.domain_sinks:
                try:
                    sink(d)
                except Exception:  # noqa: BLE001 - the userspace path still blocks
                    pass

    def domain_blocked(self, name: str) -> bool:
        n = name.rstrip(".").lower()
        return any(n == d or n.endswith("." + d) for d in self.domains)

    def learned(self, pairs: list[tuple[str, str]]) -> None:
        """(address, name) pairs of one DNS answer: block the addresses of blocked domains.
        Called on the sensor's poll thread; nft runs in a thread so polling goes on."""
        if not self.domains or not self.enabled:
            return
        todo = sorted({a for a, n in pairs if self.domain_blocked(n)})
        if not todo:
            return

        def work() -> None:
            for addr in todo:
                try:
                    if self.block(addr) == 0:
                        self.later_blocked += 1
                except NetError:
                    pass
        threading.Thread(target=work, name="netblock-domain", daemon=True).start()

    def unblock(self, text: str) -> int:
        """0 unblocked, 1 was not blocked; raises NetError."""
        addr = parse_ip(text)
        self.ensure()
        with self._act:
            if not self.is_blocked(addr):
                return 1
            res = self._run(["delete", "element", "inet", self.table, self._set(addr),
                             f"{{ {addr} }}"])
        if res.returncode != 0:
            if "No such file or directory" in res.stderr:  # gone meanwhile (a timer expired)
                return 1
            raise NetError(f"cannot unblock {addr}: {_first_line(res.stderr)}")
        return 0


def _first_line(text: str) -> str:
    """nft's message without the echoed command and caret lines."""
    lines = text.strip().splitlines()
    return lines[0] if lines else "nft failed"


def resolve(domain: str, timeout_s: float = 3.0) -> list[str]:
    """Addresses of `domain` (getaddrinfo, honours /etc/hosts), bounded in time."""
    domain = str(domain).strip().rstrip(".")
    if not domain or len(domain) > 253 or any(c.isspace() for c in domain):
        raise NetError(f"invalid domain {domain!r}")
    result: list[str] = []
    error: list[str] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(domain, None, proto=socket.IPPROTO_TCP)
            for info in infos:
                addr = str(info[4][0])
                if addr not in result:
                    result.append(addr)
        except OSError as exc:
            error.append(str(exc))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise NetError(f"resolving {domain} timed out")
    if error or not result:
        raise NetError(f"cannot resolve {domain}: {error[0] if error else 'no address'}")
    return result
