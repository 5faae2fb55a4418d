"""Live, as root: names learned from DNS answers make `remote_domains` recipes match.

Everything happens inside a network namespace the test creates: a tiny DNS server on
127.0.0.1:53 answers pool.minexmr.test -> 127.0.0.2, and a client resolves the name by hand
(sendto/recvfrom) and connects to 127.0.0.2:8443.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.kernel, pytest.mark.slow]

SERVER = r"""
import socket, struct, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 53))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.2", 8443)); t.listen(4)
def tcp():
    while True:
        c, _ = t.accept(); c.close()
threading.Thread(target=tcp, daemon=True).start()
print("ready", flush=True)
while True:
    q, peer = u.recvfrom(512)
    qid, = struct.unpack(">H", q[:2])
    question = q[12:]
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.2")
    u.sendto(struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + ans, peer)
"""
CLIENT = r"""
import socket, struct
name = b"".join(bytes([len(p)]) + p for p in b"pool.minexmr.test".split(b".")) + b"\0"
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
u.sendto(q, ("127.0.0.1", 53)); r, _ = u.recvfrom(512)
addr = socket.inet_ntoa(r[-4:])
s = socket.create_connection((addr, 8443), timeout=5); s.close()
print(addr)
"""
RECIPE = """
- kind: mining_pool
  name: pool_domain_contacted
  mechanism: network_peers
  remote_domains: [minexmr.test]
  remote_domains_type: suffix
"""


def test_dns_names_reach_remote_domains_recipes(tmp_path: Path) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.sensor.agent import Agent, AgentOptions
    if subprocess.run(["ip", "netns", "help"], capture_output=True).returncode not in (0, 255):
        pytest.skip("iproute2 netns unavailable")
    ns = f"jr-dns-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    server = None
    dets: list[dict[str, Any]] = []

    class Collect:
        def emit(self, d: Any) -> None:
            dets.append(d.event)

        def close(self) -> None:
            pass
    (tmp_path / "r.yaml").write_text(RECIPE)
    out = open(os.devnull, "w")  # noqa: SIM115
    agent = Agent(load_any([str(tmp_path / "r.yaml")]), [Collect()], None,
                  opts=AgentOptions(status_every_s=3600), out=out, err=out)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        agent.start()
        th = threading.Thread(target=agent.run, daemon=True)
        th.start()
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == "127.0.0.2", r.stderr
        end = time.monotonic() + 5
        while not dets and time.monotonic() < end:
            time.sleep(0.05)
        agent.stop()
        th.join(10)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "delete", ns], check=False)
    assert dets, "no detection for a connection to a DNS-resolved mining pool name"
    flow = dets[0]["flow"]
    assert flow["remote"]["address"] == "127.0.0.2" and flow["remote"]["port"] == 8443
    assert "pool.minexmr.test" in flow["remote"]["names"]
