"""Compatibility with Jibril's own reaction tests (garnet-org/jibril-wahy jibril/tests).

Those tests are recipes triggered by deleting a file, whose JavaScript reads `data` as
Jibril's reaction.md describes it and asserts helper return codes. The recipes and events
here are our own; they exercise the same behaviour: the shape and types of `data`, the
no-argument network helpers, and a real run of the same event through the engine and the
reactions. Live counterparts (a real `rm` seen by the sensor) are in test_jibril_compat_live.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jibril_rules.compiler.driver import compile_ruleset
from jibril_rules.compiler.ruleset import load_paths
from jibril_rules.reactions import ReactionConfig, ReactionRuntime
from jibril_rules.runtime.dispatch import reaction_call
from jibril_rules.runtime.engine import Engine

# A reaction that reports the type of every field Jibril's reaction.md documents.
SHAPE_JS = r"""
function process(data) {
  const t = (v) => Array.isArray(v) ? "list" : (v === null ? "null" : typeof v);
  const out = {event_type: data.event_type, top: {}, base: {}, meta: {}, file: {}, proc: {},
               flow: {}, flags: {}, phase: {}, bg: {}};
  for (const k of ["uuid", "timestamp", "note", "metadata", "background", "habitat", "scenario"])
    out.top[k] = t(data[k]);
  for (const k of ["uuid", "timestamp", "note", "metadata", "background", "habitat", "scenario"])
    out.base[k] = t(data.base[k]);
  for (const k of ["kind", "name", "format", "version", "description", "importance",
                   "documentation", "tactic", "technique", "subtechnique"])
    out.meta[k] = t(data.metadata[k]);
  if (data.file) for (const k of Object.keys(data.file)) out.file[k] = t(data.file[k]);
  for (const k of Object.keys(data.process)) out.proc[k] = t(data.process[k]);
  if (data.flow) {
    for (const k of Object.keys(data.flow)) out.flow[k] = t(data.flow[k]);
    for (const k of Object.keys(data.flow.flags)) out.flags[k] = t(data.flow.flags[k]);
    for (const k of Object.keys(data.flow.phase)) out.phase[k] = t(data.flow.phase[k]);
  }
  for (const k of ["ancestry", "flows", "files"]) out.bg[k] = t(data.base.background[k]);
  out.same_bg = JSON.stringify(data.base.background) === JSON.stringify(data.background);
  out.host = data.base.scenario[0];
  Info(JSON.stringify(out));
}
"""

def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line else line for line in text.strip("\n").splitlines())


def _recipes() -> str:
    body = _indent(SHAPE_JS, 8)
    return f"""
- kind: compat_probe
  name: compat_probe_unlink
  version: 1.0
  description: probe of the detection shape (file)
  importance: high
  tactic: example
  technique: example
  subtechnique: example
  mechanism: file_access
  file_actions: [unlink]
  file_actions_how: any
  bases: [{{dir: /srv/compat-probe, base: gone.txt}}]
  reactions:
    - format: js
      code: |
{body}
- kind: compat_probe
  name: compat_probe_peer
  mechanism: network_peers
  remote_domains: [probe.compat.test]
  remote_domains_type: exact
  flow_actions: [egress, ingress]
  flow_actions_how: any
  reactions:
    - format: js
      code: |
{body}
"""


def _proc(pid: int, ppid: int, comm: str, exe: str, args: str) -> dict[str, Any]:
    return {"pid": pid, "ppid": ppid, "uid": 0, "comm": comm, "cmd": f"{exe} {args}".strip(),
            "exe": exe, "args": args, "start": "2026-12-01T00:00:00.000000Z", "exit": "running",
            "retcode": 0, "envs": "", "loader": "", "prev_exe": "", "prev_args": ""}


def _file_event() -> dict[str, Any]:
    script = _proc(7001, 7000, "probe_runner.sh", "/usr/bin/bash", "./probe_runner.sh")
    rm = _proc(7002, 7001, "rm", "/usr/bin/rm", "/srv/compat-probe/gone.txt")
    return {"uuid": "compat-file-000111", "timestamp": "2026-12-01T00:00:01.000000Z",
            "process": rm, "file": {"file": "/srv/compat-probe/gone.txt", "actions": ["unlink"]},
            "background": {"ancestry": [script, rm], "flows": {}, "files": {"root": {}}}}


def _peer_event(name: str, addr: str) -> dict[str, Any]:
    cur = _proc(7003, 7000, "curl", "/usr/bin/curl", f"http://{name}/")
    phase = {"direction": "egress", "initiated_by": "local", "status": "started", "ended_by": ""}
    flags = {"ingress": False, "egress": True, "incoming": False, "outgoing": True,
             "started": True, "ongoing": False, "ended": False, "terminator": False,
             "terminated": False}
    remote = {"address": addr, "name": name, "names": [name]}
    local = {"address": "10.9.9.2", "name": "", "names": []}
    return {"uuid": f"compat-peer-{name}", "timestamp": "2026-12-01T00:00:02.000000Z",
            "process": cur,
            "flow": {"ip_version": 4, "proto": "tcp", "local": dict(local, port=40001),
                     "remote": dict(remote, port=80), "service_port": 80, "flags": flags,
                     "phase": phase},
            "background": {"ancestry": [cur], "files": {"root": {}}, "flows": {
                "ip_version": 4, "protocols": [{"proto": "tcp", "pairs": [{
                    "nodes": {"local": local, "remote": remote},
                    "port_matrix": [{"src_port": 40001, "dst_port": 80, "phase": phase}]}]}]}}}


def _engine(tmp_path: Path, text: str) -> Engine:
    (tmp_path / "r.yaml").write_text(text)
    rs = load_paths([str(tmp_path / "r.yaml")])
    assert rs.ok, rs.diagnostics
    return Engine(compile_ruleset(rs))


def _react(tmp_path: Path, det: Any, **cfg: Any) -> Any:
    ref, specs = reaction_call(det.recipe)
    opts: dict[str, Any] = {"state_dir": str(tmp_path / "state"), "temp_root": str(tmp_path),
                            "log_to_python": False}
    opts.update(cfg)
    with ReactionRuntime(ReactionConfig(**opts)) as rt:
        (rec,) = rt.run_now(ref, specs, det.event)
    return rec


def test_data_has_the_fields_and_types_of_jibrils_reaction_doc(tmp_path: Path) -> None:
    eng = _engine(tmp_path, _recipes())
    (det,) = eng.process(_file_event())
    rec = _react(tmp_path, det)
    assert rec.status == "ok", rec.error
    out = json.loads(rec.logs[0][len("INFO: "):])
    assert out["event_type"] == "file_access"
    assert set(out["top"].values()) <= {"string", "object", "list"}
    assert out["top"]["scenario"] == out["base"]["scenario"] == "list"
    assert out["base"] == out["top"] and out["same_bg"]
    assert out["meta"] == {k: "string" for k in out["meta"]} and len(out["meta"]) == 10
    assert det.event["metadata"]["format"] == "file_access"  # Jibril: the mechanism
    assert det.event["metadata"]["version"] == "1.0"
    booleans = ["fasync", "flock", "fsync", "llseek", "mmap", "open", "read", "write", "rename",
                "truncate", "unlink", "create", "close", "link", "execve"]
    assert {k: out["file"][k] for k in booleans} == {k: "boolean" for k in booleans}
    assert (out["file"]["file"], out["file"]["dir"], out["file"]["basename"],
            out["file"]["actions"]) == ("string", "string", "string", "list")
    for k in ("pid", "ppid", "uid", "retcode"):
        assert out["proc"][k] == "number"
    # Jibril's Process.Args is a string (ashkaal types.go, real outputs), as ours is
    assert out["proc"]["args"] == out["proc"]["prev_args"] == out["proc"]["cmd"] == "string"
    assert out["bg"] == {"ancestry": "list", "flows": "object", "files": "object"}
    assert set(out["host"]) == {"hostname", "ip", "mac", "os", "arch"}
    assert out["host"]["os"] == "linux" and out["host"]["hostname"] == os.uname().nodename


def test_network_peer_event_type_flags_and_phase(tmp_path: Path) -> None:
    eng = _engine(tmp_path, _recipes())
    (det,) = eng.process(_peer_event("probe.compat.test", "10.9.9.1"))
    rec = _react(tmp_path, det)
    out = json.loads(rec.logs[0][len("INFO: "):])
    assert out["event_type"] == "network_peer"
    assert out["flags"] == {k: "boolean" for k in (
        "ingress", "egress", "incoming", "outgoing", "started", "ongoing", "ended",
        "terminator", "terminated")}
    assert out["phase"] == {k: "string" for k in ("direction", "initiated_by", "status",
                                                  "ended_by")}
    assert (out["flow"]["ip_version"], out["flow"]["proto"], out["flow"]["service_port"]) == (
        "number", "string", "number")


def test_a_recorded_habitat_and_scenario_are_kept(tmp_path: Path) -> None:
    eng = _engine(tmp_path, _recipes())
    ev = dict(_file_event(), habitat={"distro": {"name": "alpine"}},
              scenario=[{"cluster": "c1", "namespace": "n", "pod": "p", "node": "x"}])
    (det,) = eng.process(ev)
    assert det.event["base"]["habitat"] == {"distro": {"name": "alpine"}}
    assert det.event["base"]["scenario"][0]["cluster"] == "c1"


DOMAIN_JS = """
function process(data) {
  const r = NetBlockDomain();
  const e = Errno();
  Info("res " + r);
  if (r < 0) Error("errno " + e);
}
"""


def _domain_recipe() -> str:
    return f"""
- kind: compat_domain
  name: compat_block_seen_domain
  mechanism: network_peers
  remote_domains: [blocked.compat.invalid]
  remote_domains_type: exact
  flow_actions: [egress, ingress]
  flow_actions_how: any
  reactions:
    - format: js
      code: |
{_indent(DOMAIN_JS, 8)}
"""


def test_netblockdomain_uses_the_addresses_the_event_saw_in_monitor_mode(tmp_path: Path) -> None:
    """`.invalid` never resolves: the name's address comes from the event, as Jibril's DNS
    tracking would give it, so the no-argument call succeeds instead of failing to resolve."""
    eng = _engine(tmp_path, _domain_recipe())
    (det,) = eng.process(_peer_event("blocked.compat.invalid", "10.9.9.1"))
    rec = _react(tmp_path, det, netpolicy=True)
    assert rec.logs == ("INFO: res 0",), rec.logs
    (call,) = [c for c in rec.calls if c.name == "NetBlockDomain"]
    assert call.dry_run and call.result == 0


def test_netblockdomain_with_no_address_known_yet_is_not_an_error(tmp_path: Path) -> None:
    """Nothing seen, nothing resolves: the name is remembered (later answers are blocked),
    so the call succeeds as Jibril's domain rule does (its test takes -1 as a failure)."""
    eng = _engine(tmp_path, _domain_recipe())
    ev = _peer_event("blocked.compat.invalid", "10.9.9.1")
    ev["flow"]["remote"]["address"] = ""
    ev["background"]["flows"]["protocols"][0]["pairs"][0]["nodes"]["remote"]["address"] = ""
    (det,) = eng.process(ev)
    rec = _react(tmp_path, det, netpolicy=True)
    assert rec.logs == ("INFO: res 0",), rec.logs


def _need_netns() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    if subprocess.run(["nft", "--version"], capture_output=True).returncode != 0:
        pytest.skip("nft is not installed")


@pytest.fixture()
def netns() -> Any:
    _need_netns()
    import secrets
    ns = "jr-compat-" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True,
                       capture_output=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_netblockdomain_blocks_the_seen_address_in_a_netns(tmp_path: Path, netns: str) -> None:
    """Enforce mode, nftables inside a namespace we create: the domain's address is dropped."""
    addr = "10.203.78.1"
    eng = _engine(tmp_path, _domain_recipe())
    (det,) = eng.process(_peer_event("blocked.compat.invalid", addr))
    rec = _react(tmp_path, det, netpolicy=True, mode="enforce", net_netns=netns)
    assert rec.logs == ("INFO: res 0",), rec.logs
    listed = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "set", "inet",
                             "jibril_rules", "block4"], capture_output=True, text=True)
    assert addr in listed.stdout, listed.stdout + listed.stderr
    again = _react(tmp_path, det, netpolicy=True, mode="enforce", net_netns=netns)
    assert again.logs == ("INFO: res 1",), again.logs  # already blocked: no effect


# Jibril's unblock test blocks then unblocks one address and accepts 0 or 1 from each call.
# Several events of one flow run this in parallel; none may see an error.
BLOCK_UNBLOCK_JS = """
function process(data) {
  const a = NetBlockIp("172.16.9.123");
  const b = NetUnblockIp("172.16.9.123");
  Info(a + " " + b);
  if (a < 0 || b < 0) Error("errno " + Errno());
}
"""


def test_parallel_block_unblock_of_one_address_never_fails(tmp_path: Path, netns: str) -> None:
    from jibril_rules.reactions import Reaction, RecipeRef
    specs = [Reaction("js", BLOCK_UNBLOCK_JS) for _ in range(8)]
    with ReactionRuntime(ReactionConfig(state_dir=str(tmp_path / "s"), temp_root=str(tmp_path),
                                        log_to_python=False, mode="enforce", netpolicy=True,
                                        net_netns=netns, workers=8)) as rt:
        recs = rt.run_now(RecipeRef("compat", "compat_unblock_race"), specs, {"uuid": "u"})
    logs = [r.logs for r in recs]
    assert all(len(lg) == 1 and lg[0] in ("INFO: 0 0", "INFO: 1 0", "INFO: 0 1", "INFO: 1 1")
               for lg in logs), logs
    assert sum(lg[0].endswith(" 0") for lg in logs) >= 1


def test_a_connection_is_one_pair_in_background_flows() -> None:
    """connect() is seen before the source address is picked (0.0.0.0:0), then bound: Jibril's
    tests loop over background.flows pairs and block each address once (a duplicate would make
    NetBlockIpTimer's loop stop at 'already blocked')."""
    from jibril_rules.sensor.flows import FlowBook

    def flow(laddr: str, lport: int, status: str) -> dict[str, Any]:
        return {"ip_version": 4, "proto": "tcp",
                "local": {"address": laddr, "port": lport, "name": "", "names": []},
                "remote": {"address": "10.9.9.1", "port": 80, "name": "a.test", "names": ["a.test"]},
                "phase": {"direction": "egress", "initiated_by": "local", "status": status,
                          "ended_by": ""}}
    book = FlowBook()
    book.add(42, flow("0.0.0.0", 0, "started"))
    assert len(book.background(42)["protocols"][0]["pairs"]) == 1
    book.add(42, flow("10.9.9.2", 50314, "ongoing"))
    book.add(42, flow("10.9.9.2", 50314, "ended"))
    (proto,) = book.background(42)["protocols"]
    (pair,) = proto["pairs"]
    assert pair["nodes"]["local"]["address"] == "10.9.9.2"
    assert [p["phase"]["status"] for p in pair["port_matrix"]] == ["ended"]
    book.add(42, flow("0.0.0.0", 0, "started"))  # reported after the bound one
    assert len(book.background(42)["protocols"][0]["pairs"]) == 1
    book.add(42, flow("10.9.9.2", 50316, "ongoing"))  # a second connection stays its own entry
    assert len(book.background(42)["protocols"][0]["pairs"][0]["port_matrix"]) == 2


def test_execution_event_type_and_both_objects(tmp_path: Path) -> None:
    eng = _engine(tmp_path, """
- kind: compat_exec
  name: compat_exec_probe
  mechanism: execution
  file_actions: [execve]
  bases: [{base: compat-probe-tool}]
""")
    ev = {"file": {"file": "/usr/local/bin/compat-probe-tool", "actions": ["execve"]},
          "process": _proc(7005, 7000, "compat-probe-to", "/usr/local/bin/compat-probe-tool", "-x")}
    (det,) = eng.process(ev)
    d = det.event
    assert (d["event_type"], d["metadata"]["format"]) == ("execution", "execution")
    assert d["file"]["execve"] is True and d["file"]["basename"] == "compat-probe-tool"
    assert d["process"]["args"] == "-x" and d["base"]["background"] is d["background"]
