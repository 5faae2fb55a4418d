"""prevent: deny through `jibril run`'s agent (root): recipes -> tables.prevent -> fanotify
permission marks / cgroup deny rules, the detection printed with "prevented" or "would prevent".

Files: a file created under tmp_path. Network: an address that exists only on the loopback of
a network namespace created here (unique name); nothing else on the host is refused.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.kernel]


def _skip() -> str | None:
    from jibril_rules.sensor.bccload import SensorUnavailable, preflight
    try:
        preflight()
    except SensorUnavailable as e:
        return str(e)
    return None


def _agent(recipes: Path, tmp: Path, enforce: bool) -> tuple[Any, threading.Thread, io.StringIO]:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime
    from jibril_rules.sensor.agent import Agent, AgentOptions
    out = io.StringIO()
    rt = ReactionRuntime(ReactionConfig.from_dict(
        {"mode": "enforce" if enforce else "monitor", "state_dir": str(tmp / "state"),
         "temp_root": str(tmp), "log_to_python": False}))
    agent = Agent(load_any([str(recipes)]), [], rt, opts=AgentOptions(status_every_s=3600),
                  out=out, err=out)
    agent.default_mode = "enforce" if enforce else "monitor"
    agent.start()
    th = threading.Thread(target=agent.run, daemon=True)
    th.start()
    return agent, th, out


def _wait_for(out: io.StringIO, text: str, s: float = 5.0) -> None:
    end = time.monotonic() + s
    while time.monotonic() < end and text not in out.getvalue():
        time.sleep(0.05)


@pytest.mark.parametrize("enforce", [True, False], ids=["enforce", "monitor"])
def test_prevent_deny_open_through_the_agent(tmp_path: Path, enforce: bool) -> None:
    reason = _skip()
    if reason:
        pytest.skip(reason)
    d = tmp_path / "vault"
    d.mkdir()
    secret = d / f"secret-{uuid.uuid4().hex[:6]}"
    secret.write_text("s")
    rec = tmp_path / "r.yaml"
    rec.write_text(f"""- kind: test
  name: deny_secret_open
  mechanism: file_access
  file_actions: [open]
  prevent: deny
  bases:
    - base: {secret.name}
      dir: {d}
""")
    agent, th, out = _agent(rec, tmp_path, enforce)
    try:
        assert "marks" in agent.sensor.mechs, agent.sensor.mechs
        r = subprocess.run(["cat", str(secret)], capture_output=True, text=True, timeout=10)
        _wait_for(out, "prevent")
    finally:
        agent.stop()
        th.join(10)
    text = out.getvalue()
    if enforce:
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
        assert "jibril: prevented: deny deny_secret_open" in text, text
    else:
        assert r.returncode == 0 and r.stdout == "s"
        assert "would prevent" in text and "deny_secret_open" in text, text
    assert agent.matches >= 1


def test_prevent_deny_exec_through_the_agent(tmp_path: Path) -> None:
    reason = _skip()
    if reason:
        pytest.skip(reason)
    import shutil
    exe = tmp_path / f"jbdeny-{uuid.uuid4().hex[:6]}"
    shutil.copy("/bin/true", exe)
    rec = tmp_path / "r.yaml"
    rec.write_text(f"""- kind: test
  name: deny_tool_exec
  mechanism: execution
  file_actions: [execve]
  prevent: deny
  bases:
    - base: {exe.name}
      dir: {tmp_path}
""")
    agent, th, out = _agent(rec, tmp_path, True)
    try:
        assert "marks" in agent.sensor.mechs, agent.sensor.mechs
        with pytest.raises(PermissionError):
            subprocess.run([str(exe)], check=True, timeout=10)
        subprocess.run(["/bin/true"], check=True, timeout=10)  # other binaries run
        _wait_for(out, "prevented")
    finally:
        agent.stop()
        th.join(10)
    assert "jibril: prevented: deny deny_tool_exec" in out.getvalue(), out.getvalue()


NS_ADDR = "10.247.13.2"
PORT = 18477


@pytest.fixture()
def netns() -> Any:
    ns = f"jr-knetd-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "-n", ns, "addr", "add", f"{NS_ADDR}/32", "dev", "lo"], check=True)
    srv = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c",
                            "import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
                            f"socket.SO_REUSEADDR,1);s.bind(('{NS_ADDR}',{PORT}));s.listen(8)\n"
                            "print('ready',flush=True)\nwhile True: s.accept()[0].close()"],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout is not None and srv.stdout.readline().strip() == "ready"
    yield ns
    srv.kill()
    srv.wait()
    subprocess.run(["ip", "netns", "delete", ns], check=False)


def test_prevent_deny_connect_through_the_agent(tmp_path: Path, netns: str) -> None:
    reason = _skip()
    if reason:
        pytest.skip(reason)
    rec = tmp_path / "r.yaml"
    rec.write_text(f"""- kind: test
  name: deny_c2_connect
  mechanism: network_peers
  remote_cidrs: [{NS_ADDR}/32]
  remote_port: {PORT}
  flow_actions: [egress]
  prevent: deny
""")
    code = (f"import errno,socket\ntry:\n s=socket.create_connection(('{NS_ADDR}',{PORT}),"
            "timeout=3);print('ok')\nexcept OSError as e: print(errno.errorcode.get(e.errno))")
    agent, th, out = _agent(rec, tmp_path, True)
    try:
        assert "cgroup_net" in agent.sensor.mechs, agent.sensor.mechs
        r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code],
                           capture_output=True, text=True, timeout=20)
        _wait_for(out, "prevented")
    finally:
        agent.stop()
        th.join(10)
    assert r.stdout.strip() == "EPERM", (r.stdout, r.stderr)
    assert "jibril: prevented: deny deny_c2_connect" in out.getvalue(), out.getvalue()
    # after the agent stopped, the programs are gone: the connection goes through
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=20)
    assert r.stdout.strip() == "ok"


LATER_ADDR, TRIGGER_ADDR = "10.247.14.3", "10.247.14.9"
DNS_SERVER = r"""
import socket, struct, sys, threading
ips = sys.argv[1:]
def serve(ip):
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((ip, 8080)); t.listen(8)
    while True:
        t.accept()[0].close()
for ip in ips:
    threading.Thread(target=serve, args=(ip,), daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    q, peer = u.recvfrom(512)
    qid, = struct.unpack(">H", q[:2])
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ips[0])
    u.sendto(struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q[12:] + ans, peer)
"""
RESOLVE_CONNECT = r"""
import socket, struct, sys
name = b"".join(bytes([len(p)]) + p for p in b"later.knet.jbtest".split(b".")) + b"\0"
q = struct.pack(">HHHHHH", 0x4243, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
u.sendto(q, ("127.0.0.1", 53)); r, _ = u.recvfrom(512)
addr = socket.inet_ntoa(r[-4:])
import time; time.sleep(float(sys.argv[1]))
try:
    socket.create_connection((addr, 8080), timeout=1.5).close(); print(addr, "ok")
except OSError as e:
    print(addr, "blocked", e)
"""


def test_netblockdomain_blocks_an_address_resolved_later(tmp_path: Path) -> None:
    """NetBlockDomain() while the name resolves to nothing here; a DNS answer for it seen
    afterwards is dropped in the kernel, and the address it carried gets blocked too
    (nftables set inside the test netns), for clients that already knew it."""
    reason = _skip()
    if reason:
        pytest.skip(reason)
    import shutil
    if not shutil.which("nft"):
        pytest.skip("nftables missing (sudo bash scripts/setup.sh)")
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime
    from jibril_rules.sensor.agent import Agent, AgentOptions
    ns = f"jr-knetn-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    srv = None
    agent = th = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        for a in (LATER_ADDR, TRIGGER_ADDR):
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{a}/32", "dev", "lo"], check=True)
        srv = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", DNS_SERVER,
                                LATER_ADDR, TRIGGER_ADDR], stdout=subprocess.PIPE, text=True)
        assert srv.stdout is not None and srv.stdout.readline().strip() == "ready"
        rec = tmp_path / "r.yaml"
        rec.write_text(f"""- kind: test
  name: trigger_block_domain
  mechanism: network_peers
  remote_cidrs: [{TRIGGER_ADDR}/32]
  flow_actions: [egress]
  reactions:
    - format: js
      code: |
        function process(data) {{ NetBlockDomain("later.knet.jbtest"); }}
""")
        rt = ReactionRuntime(ReactionConfig.from_dict(
            {"mode": "enforce", "state_dir": str(tmp_path / "state"), "temp_root": str(tmp_path),
             "log_to_python": False, "netpolicy": True, "net_netns": ns,
             "net_table": f"jrknet{os.getpid()}"}))
        out = io.StringIO()
        agent = Agent(load_any([str(rec)]), [], rt, opts=AgentOptions(status_every_s=3600),
                      out=out, err=out)
        agent.start()
        th = threading.Thread(target=agent.run, daemon=True)
        th.start()
        run = ["ip", "netns", "exec", ns, sys.executable, "-c"]
        first = subprocess.run([*run, RESOLVE_CONNECT, "0"], capture_output=True, text=True,
                               timeout=20)
        assert first.stdout.split()[:2] == [LATER_ADDR, "ok"], first  # not blocked yet
        subprocess.run([*run, f"import socket; socket.create_connection(('{TRIGGER_ADDR}', "
                        "8080), timeout=2).close()"], check=True, timeout=20)
        end = time.monotonic() + 10
        while time.monotonic() < end and "later.knet.jbtest" not in rt.services.net.domains:
            time.sleep(0.05)
        assert "later.knet.jbtest" in rt.services.net.domains, out.getvalue()
        # a new answer for the domain, seen after the call: dropped in the kernel (the
        # resolver never gets it), and its address goes into the nftables set
        later = subprocess.run([*run, RESOLVE_CONNECT, "0"], capture_output=True, text=True,
                               timeout=20)
        assert later.returncode != 0 and "timed out" in later.stderr, later
        end = time.monotonic() + 10
        while time.monotonic() < end and rt.services.net.later_blocked < 1:
            time.sleep(0.05)
        assert rt.services.net.later_blocked >= 1, out.getvalue()
        direct = subprocess.run([*run, f"import socket; socket.create_connection(('{LATER_ADDR}', "
                                 "8080), timeout=1.5).close()"], capture_output=True, text=True,
                                timeout=20)
        assert direct.returncode != 0, "a client that knew the address still connected"
    finally:
        if agent is not None and th is not None:
            agent.stop()
            th.join(10)
        if srv is not None:
            srv.kill()
            srv.wait()
        subprocess.run(["ip", "netns", "delete", ns], check=False)
