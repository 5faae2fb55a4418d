"""Live, as root: Jibril's reaction-test pattern end to end, with our own recipes.

Jibril's tests (garnet-org/jibril-wahy jibril/tests) delete a watched file from a shell script
and the reaction acts on what the sensor saw: it finds the script in `background.ancestry` by
its comm and kills it, kills the deleter's parent, tries to kill the deleter (gone: 1), and
reads a sibling file next to `data.file.file`. Here the agent (real eBPF, real V8) watches a
temp dir; every process killed is a script this test started.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.kernel, pytest.mark.slow]

KILL_BY_COMM = """
function process(data) {
  const anc = data?.base?.background?.ancestry;
  if (!Array.isArray(anc) || anc.length === 0) { Error("no ancestry"); return; }
  let proc = null;
  for (let i = anc.length - 1; i >= 0; i--) if (anc[i]?.comm === "jrc_victim.sh") { proc = anc[i]; break; }
  if (!proc || typeof proc.pid !== "number") { Error("not found"); return; }
  const r = KillProcess(proc.pid);
  Info("kill " + r + " " + data.event_type + " " + data.file.unlink + " " + typeof data.process.args);
  if (r < 0) Error("fail " + Errno());
}
"""
KILL_PARENT = """
function process(data) {
  const r = KillParent();
  Info("parent " + r);
  if (r < 0) Error("fail " + Errno());
}
"""
KILL_CURRENT = """
function process(data) {
  const r = KillCurrent();
  Info("current " + r);
  if (r < 0) Error("fail " + Errno());
}
"""
SIBLING = """
function process(data) {
  const w = WriteFile(data.file.dir + "/written.out", "hello, world!");
  const st = Stat(data.file.dir + "/written.out");
  const sib = ReadFile(data.file.file.replace(/\\.txt$/, ".test"));
  Info("sib " + w + " " + (st && st.size) + " " + (st && st.mode) + " " + sib);
  if (sib === "") Error("read errno " + Errno());
}
"""


def _indent(code: str) -> str:
    return "\n".join("        " + line if line else line for line in code.strip("\n").splitlines())


def _recipe(name: str, d: Path, base: str, code: str) -> str:
    return f"""
- kind: compat_live
  name: {name}
  mechanism: file_access
  file_actions: [unlink]
  file_actions_how: any
  bases: [{{dir: {d}, base: {base}}}]
  reactions:
    - format: js
      code: |
{_indent(code)}
"""


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o700)
    return path


def test_jibril_reaction_test_pattern_live(tmp_path: Path) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime
    from jibril_rules.sensor.agent import Agent, AgentOptions
    from jibril_rules.sensor.bccload import SensorUnavailable, preflight
    try:
        preflight()
    except SensorUnavailable as e:
        pytest.skip(str(e))
    w = tmp_path / "watched"
    w.mkdir()
    for t in ("victim", "parent", "current", "sibling"):
        (w / f"{t}.txt").write_text("x")
    (w / "sibling.test").write_text("jibril is awesome")
    (tmp_path / "r.yaml").write_text(
        _recipe("compat_live_kill_by_comm", w, "victim.txt", KILL_BY_COMM)
        + _recipe("compat_live_kill_parent", w, "parent.txt", KILL_PARENT)
        + _recipe("compat_live_kill_current", w, "current.txt", KILL_CURRENT)
        + _recipe("compat_live_sibling", w, "sibling.txt", SIBLING))
    victim = _script(tmp_path / "jrc_victim.sh", f"rm -f {w}/victim.txt\nsleep 30\n")
    parent = _script(tmp_path / "jrc_parent.sh", f"rm -f {w}/parent.txt\nsleep 30\n")
    current = _script(tmp_path / "jrc_current.sh", f"rm -f {w}/current.txt\nsleep 1\n")
    audit = tmp_path / "audit.jsonl"
    # pid_max is 32768 here: after a wrap our own scripts may get a pid below the default
    # min_pid (500), which the kill helpers refuse; they only ever match these scripts.
    rt = ReactionRuntime(ReactionConfig(mode="enforce", state_dir=str(tmp_path / "state"),
                                        temp_root=str(tmp_path), audit_path=str(audit),
                                        log_to_python=False, min_pid=2))

    class Quiet:
        def emit(self, d: Any) -> None:
            pass

        def close(self) -> None:
            pass
    out = open(os.devnull, "w")  # noqa: SIM115
    agent = Agent(load_any([str(tmp_path / "r.yaml")]), [Quiet()], rt,
                  opts=AgentOptions(status_every_s=3600, aggregate_s=0.0), out=out, err=out)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        agent.start()
        th = threading.Thread(target=agent.run, daemon=True)
        th.start()
        procs = [subprocess.Popen([str(s)]) for s in (victim, parent, current)]
        subprocess.run(["rm", "-f", str(w / "sibling.txt")], check=True)
        codes = [p.wait(timeout=25) for p in procs]
        end = time.monotonic() + 10
        recs: dict[str, dict[str, Any]] = {}
        while len(recs) < 4 and time.monotonic() < end:
            time.sleep(0.1)
            if audit.exists():
                for line in audit.read_text().splitlines():
                    r = json.loads(line)
                    recs.setdefault(r["recipe"], r)
        agent.stop()
        th.join(15)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        out.close()
    logs = {k: v["logs"] for k, v in recs.items()}
    assert logs.get("compat_live_kill_by_comm") == ["INFO: kill 0 file_access true string"], logs
    assert logs.get("compat_live_kill_parent") == ["INFO: parent 0"], logs
    assert logs.get("compat_live_kill_current") == ["INFO: current 1"], logs  # rm already exited
    assert logs.get("compat_live_sibling") == [
        "INFO: sib 0 13 -rw------- jibril is awesome"], logs
    assert codes[0] == codes[1] == -9 and codes[2] == 0, codes  # the two scripts were killed


DNS_SERVER = r"""
import socket, struct, sys, threading
names = dict(a.split("=") for a in sys.argv[1:])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 53))
def tcp(addr):
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, 8080)); t.listen(16)
    while True:
        c, _ = t.accept(); c.close()
for a in names.values():
    threading.Thread(target=tcp, args=(a,), daemon=True).start()
print("ready", flush=True)
while True:
    q, peer = u.recvfrom(512)
    off, parts = 12, []
    while q[off]:
        parts.append(q[off + 1:off + 1 + q[off]].decode()); off += 1 + q[off]
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(names.get(".".join(parts), "10.0.0.9"))
    u.sendto(struct.pack(">HHHHHH", struct.unpack(">H", q[:2])[0], 0x8180, 1, 1, 0, 0) + q[12:] + ans, peer)
"""
DNS_CLIENT = r"""
import socket, struct, sys
n = sys.argv[1]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(
    bytes([len(p)]) + p for p in n.encode().split(b".")) + b"\0" + struct.pack(">HH", 1, 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
u.sendto(q, ("127.0.0.1", 53))
try:
    r, _ = u.recvfrom(512)
except OSError:  # the answer for a blocked domain is dropped in the kernel
    print("blocked"); sys.exit(0)
try:
    socket.create_connection((socket.inet_ntoa(r[-4:]), 8080), timeout=1.5).close(); print("connected")
except OSError:
    print("blocked")
"""
# the loop of Jibril's BlockIPTimer test: every remote address of background.flows, 30 s each
TIMER_LOOP = """
function process(data) {
  let ips = [];
  for (const p of data?.background?.flows?.protocols ?? [])
    for (const pair of p?.pairs ?? [])
      if (pair?.nodes?.remote?.address) ips.push(pair.nodes.remote.address);
  let r = ips.length ? 0 : -1;
  for (const ip of ips) { r = NetBlockIpTimer(ip, 30); if (r !== 0) break; }
  Info("timer " + r + " " + ips.join(","));
  if (r < 0) Error("errno " + Errno());
}
"""
BLOCK_ALL = """
function process(data) {
  const r = NetBlockIp();
  Info("block " + r);
  if (r < 0) Error("errno " + Errno());
}
"""
BLOCK_DOMAIN = """
function process(data) {
  const r = NetBlockDomain();
  Info("domain " + r);
  if (r < 0) Error("errno " + Errno());
}
"""


def _net_recipe(name: str, domain: str, code: str) -> str:
    return f"""
- kind: compat_live_net
  name: {name}
  mechanism: network_peers
  remote_domains: [{domain}]
  remote_domains_type: exact
  flow_actions: [egress, ingress]
  flow_actions_how: any
  reactions:
    - format: js
      code: |
{_indent(code)}
"""


@pytest.mark.xfail(strict=False, reason=(
    "since the cgroup_net network mechanism landed on main, the timer reaction saw no address "
    "in background.flows (suspected: early flow events without pairs) and one flow stayed open (passed "
    "before that merge; under investigation)"))
def test_jibril_network_reaction_tests_pattern_live(tmp_path: Path) -> None:
    """Names learned from DNS answers inside a netns we create; nftables acts only there."""
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime
    from jibril_rules.sensor.agent import Agent, AgentOptions
    from jibril_rules.sensor.bccload import SensorUnavailable, preflight
    try:
        preflight()
    except SensorUnavailable as e:
        pytest.skip(str(e))
    if subprocess.run(["nft", "--version"], capture_output=True).returncode != 0:
        pytest.skip("nft is not installed")
    names = {"timer.compat.test": "10.203.80.1", "all.compat.test": "10.203.80.2",
             "dom.compat.test": "10.203.80.3"}
    (tmp_path / "r.yaml").write_text(
        _net_recipe("compat_live_timer", "timer.compat.test", TIMER_LOOP)
        + _net_recipe("compat_live_block_all", "all.compat.test", BLOCK_ALL)
        + _net_recipe("compat_live_domain", "dom.compat.test", BLOCK_DOMAIN))
    ns = "jr-compat-" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    audit = tmp_path / "audit.jsonl"
    server = None
    out = open(os.devnull, "w")  # noqa: SIM115
    try:
        nsx = ["ip", "netns", "exec", ns]
        subprocess.run([*nsx, "ip", "link", "set", "lo", "up"], check=True)
        for a in names.values():
            subprocess.run([*nsx, "ip", "addr", "add", f"{a}/32", "dev", "lo"], check=True)
        server = subprocess.Popen([*nsx, sys.executable, "-c", DNS_SERVER,
                                   *(f"{n}={a}" for n, a in names.items())],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        rt = ReactionRuntime(ReactionConfig(
            mode="enforce", state_dir=str(tmp_path / "state"), temp_root=str(tmp_path),
            audit_path=str(audit), log_to_python=False, netpolicy=True, net_netns=ns,
            net_table="jrcompat"))
        agent = Agent(load_any([str(tmp_path / "r.yaml")]), [], rt,
                      opts=AgentOptions(status_every_s=3600, aggregate_s=0.0), out=out, err=out)
        agent.start()
        th = threading.Thread(target=agent.run, daemon=True)
        th.start()

        def client(name: str) -> str:
            r = subprocess.run([*nsx, sys.executable, "-c", DNS_CLIENT, name],
                               capture_output=True, text=True, timeout=30)
            return r.stdout.strip()
        first = {n: client(n) for n in names}
        time.sleep(2.0)  # the reactions of the flow events run
        second = {n: client(n) for n in names}
        time.sleep(0.5)
        agent.stop()
        th.join(15)
        listed = subprocess.run([*nsx, "nft", "list", "set", "inet", "jrcompat", "block4"],
                                capture_output=True, text=True).stdout
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        out.close()
    recs = [json.loads(line) for line in audit.read_text().splitlines()]
    assert first == {n: "connected" for n in names}, (first, recs)
    assert second == {n: "blocked" for n in names}, (second, recs)
    logs = {r["recipe"]: [] for r in recs if "recipe" in r}
    for r in recs:
        if "recipe" in r:
            logs[r["recipe"]].extend(r["logs"])
    assert logs["compat_live_timer"][0] == "INFO: timer 0 10.203.80.1", logs
    assert all(x in ("INFO: timer 0 10.203.80.1", "INFO: timer 1 10.203.80.1")
               for x in logs["compat_live_timer"]), logs  # each remote once: one pair a connection
    assert logs["compat_live_block_all"][0] == "INFO: block 0", logs
    assert set(logs["compat_live_block_all"]) <= {"INFO: block 0", "INFO: block 1"}, logs
    assert logs["compat_live_domain"][0] == "INFO: domain 0", logs  # .test never resolves here
    assert "10.203.80.1 timeout 30s" in listed and "10.203.80.3" in listed, listed
