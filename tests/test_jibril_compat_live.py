"""Live, as root: Jibril's reaction-test pattern end to end, with our own recipes.

Jibril's tests (garnet-org/jibril-wahy jibril/tests) delete a watched file from a shell script
and the reaction acts on what the sensor saw: it finds the script in `background.ancestry` by
its comm and kills it, kills the deleter's parent, tries to kill the deleter (gone: 1), and
reads a sibling file next to `data.file.file`. Here the agent (real eBPF, real V8) watches a
temp dir; every process killed is a script this test started.
"""

from __future__ import annotations

import json
import subprocess
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
    from jibril_rules.bundle import load_any
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
    rt = ReactionRuntime(ReactionConfig(mode="enforce", state_dir=str(tmp_path / "state"),
                                        temp_root=str(tmp_path), audit_path=str(audit),
                                        log_to_python=False))

    class Quiet:
        def emit(self, d: Any) -> None:
            pass

        def close(self) -> None:
            pass
    out = open("/dev/null", "w")  # noqa: SIM115
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
