"""The cgroup v2 network mechanism (bpf/jibril_cgroup.bpf.c, sensor/cgroupnet.py).

Live tests run as root inside a network namespace created here (unique name); deny rules are
scoped to that namespace's cookie, so nothing else on the host is ever refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jibril_rules.core.kernel_tables import KernelTables
from jibril_rules.sensor.cgroupnet import NetDenyRule, deny_entries


def test_deny_entries_nested_prefixes_carry_outer_bits() -> None:
    rules = (NetDenyRule("a", cidrs=("10.0.0.0/8",)), NetDenyRule("b", cidrs=("10.1.0.0/16",),
                                                                  ports=(443,), enforce=False),
             NetDenyRule("c", ports=(22, 443)))
    nets, ports, any_cidr, any_port, enforce = deny_entries(rules)
    assert nets[(4, 8, bytes([10, 0, 0, 0]))] == 0b001
    assert nets[(4, 16, bytes([10, 1, 0, 0]))] == 0b011  # inside 10/8: rule a holds too
    assert ports == {443: 0b110, 22: 0b100}
    assert any_cidr == 0b100 and any_port == 0b001 and enforce == 0b101


def test_deny_entries_limit() -> None:
    with pytest.raises(ValueError, match="at most 64"):
        deny_entries(tuple(NetDenyRule(f"r{i}", ports=(i,)) for i in range(65)))


# ---------------------------------------------------------------------------- live
SERVER = r"""
import socket, struct, sys, threading
ports = [int(p) for p in sys.argv[1:]]
def serve(port):
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", port)); t.listen(8)
    while True:
        c, _ = t.accept(); c.close()
for p in ports:
    threading.Thread(target=serve, args=(p,), daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    q, peer = u.recvfrom(512)
    qid, = struct.unpack(">H", q[:2])
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.3")
    u.sendto(struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q[12:] + ans, peer)
"""
CONNECT = r"""
import errno, socket, sys
kind, port = sys.argv[1], int(sys.argv[2])
try:
    if kind == "tcp":
        s = socket.create_connection(("127.0.0.1", port), timeout=3); s.close()
    else:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"x", ("127.0.0.1", port))
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
"""
RESOLVE = r"""
import socket, struct
name = b"".join(bytes([len(p)]) + p for p in b"c2.knet.jbtest".split(b".")) + b"\0"
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
u.sendto(q, ("127.0.0.1", 53)); r, _ = u.recvfrom(512)
print(socket.inet_ntoa(r[-4:]))
"""
DENY_PORT, OPEN_PORT = 18461, 18462


class NetLab:
    """A netns with servers, and one CgroupNet whose records go through the Assembler."""

    def __init__(self) -> None:
        from jibril_rules.sensor.assemble import Assembler
        from jibril_rules.sensor.cgroupnet import CgroupNet, netns_cookie_of
        self.ns = f"jr-knet-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-c", SERVER, str(DENY_PORT),
             str(OPEN_PORT)], stdout=subprocess.PIPE, text=True)
        assert self.server.stdout is not None and self.server.stdout.readline().strip() == "ready"
        self.cookie = netns_cookie_of(self.ns)
        self.asm = Assembler(KernelTables(net_any=True))
        self.events: list[dict[str, Any]] = []
        self.records: list[Any] = []
        self.net = CgroupNet(KernelTables(net_remote_ports=(DENY_PORT, OPEN_PORT)), self._rec)
        self.net.start()

    def _rec(self, kind: int, rec: Any) -> None:
        self.records.append(rec)
        ev = self.asm.handle_record(kind, rec)
        if ev is not None:
            self.events.append(ev)

    def run(self, code: str, *args: str) -> tuple[int, str]:
        r = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable, "-c", code, *args],
                           capture_output=True, text=True, timeout=20)
        self.net.poll(50)
        return r.returncode, r.stdout.strip()

    def settle(self, s: float = 0.3) -> None:
        end = time.monotonic() + s
        while time.monotonic() < end:
            self.net.poll(50)

    def close(self) -> None:
        self.net.close()
        self.server.kill()
        self.server.wait()
        subprocess.run(["ip", "netns", "delete", self.ns], check=False)


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    if os.geteuid() != 0:
        print("SKIP cgroup network: needs root")
        pytest.skip("needs root")
    from jibril_rules.sensor.bccload import SensorUnavailable, import_bcc
    try:
        import_bcc()
    except SensorUnavailable as e:
        print(f"SKIP cgroup network: {e}")
        pytest.skip(str(e))
    lb = NetLab()
    yield lb
    lb.close()


def _flows(lab: NetLab, port: int) -> list[dict[str, Any]]:
    return [e for e in lab.events if e["mechanism"] == "network_peers"
            and e["flow"]["remote"]["port"] == port]




@pytest.mark.root
@pytest.mark.kernel
def test_connect_flow_events_keep_the_schema(lab: NetLab) -> None:
    lab.net.set_deny(())
    lab.events.clear()
    rc, out = lab.run(CONNECT, "tcp", str(OPEN_PORT))
    assert (rc, out) == (0, "ok")
    lab.settle()
    evs = _flows(lab, OPEN_PORT)
    started = [e for e in evs if e["flow"]["flags"]["started"] and not e["flow"]["flags"]["ongoing"]]
    ongoing = [e for e in evs if e["flow"]["flags"]["ongoing"]]
    assert started and ongoing, evs
    f = started[0]["flow"]
    assert f["proto"] == "tcp" and f["remote"]["address"] == "127.0.0.1"
    assert f["flags"]["outgoing"] and f["phase"]["initiated_by"] == "local"
    assert set(f) == {"ip_version", "proto", "local", "remote", "service_port", "flags", "phase"}
    assert ongoing[0]["flow"]["local"]["port"] > 0
    assert started[0]["process"]["pid"] > 0
    recs = [r for r in lab.records if getattr(r, "rport", 0) == OPEN_PORT]
    assert recs and all(r.h.comm.startswith(b"python") for r in recs)
    assert "prevent" not in started[0]


@pytest.mark.root
@pytest.mark.kernel
def test_prevent_deny_connect_gets_eperm(lab: NetLab) -> None:
    lab.net.set_deny((NetDenyRule("deny_c2", cidrs=("127.0.0.0/8",), ports=(DENY_PORT,)),),
                     netns_cookie=lab.cookie)
    lab.records.clear()
    assert lab.run(CONNECT, "tcp", str(DENY_PORT))[1] == "EPERM"
    assert lab.run(CONNECT, "tcp", str(OPEN_PORT))[1] == "ok"  # the port is not in the rule
    assert lab.run(CONNECT, "udp", str(DENY_PORT))[1] == "EPERM"  # sendmsg4
    # outside the test namespace the rule does not hold (scoped by the netns cookie)
    r = subprocess.run([sys.executable, "-c", CONNECT, "tcp", str(DENY_PORT)],
                       capture_output=True, text=True, timeout=20)
    assert r.stdout.strip() == "ECONNREFUSED"
    lab.settle()
    denied = [r for r in lab.records if getattr(r, "rport", 0) == DENY_PORT
              and r.flags >> 16 & 1]
    assert len(denied) >= 2 and all(lab.net.deny_rule(r) == lab.net.deny[0] for r in denied)


@pytest.mark.root
@pytest.mark.kernel
def test_monitor_mode_would_prevent(lab: NetLab) -> None:
    lab.net.set_deny((NetDenyRule("deny_c2", ports=(DENY_PORT,)),), netns_cookie=lab.cookie)
    lab.net.set_enforce(None, False)
    lab.records.clear()
    assert lab.run(CONNECT, "tcp", str(DENY_PORT))[1] == "ok"
    lab.settle()
    would = [r for r in lab.records if getattr(r, "rport", 0) == DENY_PORT and r.flags >> 17 & 1]
    assert would and lab.net.deny_rule(would[0]).recipe == "deny_c2"  # type: ignore[union-attr]
    lab.net.set_enforce("deny_c2", True)  # live switch back
    assert lab.run(CONNECT, "tcp", str(DENY_PORT))[1] == "EPERM"
    lab.net.set_deny(())
    assert lab.run(CONNECT, "tcp", str(DENY_PORT))[1] == "ok"


@pytest.mark.root
@pytest.mark.kernel
def test_dns_answers_from_skb_ingress_name_the_flow(lab: NetLab) -> None:
    lab.events.clear()
    rc, out = lab.run(RESOLVE)
    assert (rc, out) == (0, "127.0.0.3"), out
    lab.settle()
    assert "c2.knet.jbtest" in lab.asm.dns.lookup("127.0.0.3")


@pytest.mark.root
@pytest.mark.kernel
def test_blocked_domain_answers_are_dropped_in_the_kernel(lab: NetLab) -> None:
    """NetBlockDomain's synchronous half: an answer for the blocked name never reaches the
    resolver (it times out), answers for other names still do."""
    assert lab.net.block_domain("c2.knet.jbtest")
    rc, _ = lab.run(RESOLVE)
    assert rc != 0  # recvfrom timed out: the answer was dropped
    other = RESOLVE.replace("c2.knet.jbtest", "ok.knet.jbtest")
    assert lab.run(other) == (0, "127.0.0.3")
    lab.settle()
    dropped = [r for r in lab.records if getattr(r, "len", 0) and r._pad == 1]
    assert dropped  # userspace still sees the dropped answer (addresses -> NetBlockDomain)
