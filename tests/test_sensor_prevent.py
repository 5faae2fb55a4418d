"""prevent: kill live (root): the kernel kills a watched exec before its first instruction.

A binary built here (unique name under tmp_path) writes a marker from its constructor: in
enforce mode the marker never appears and the parent sees SIGKILL; in monitor mode it runs,
and the detection is printed with "would prevent". Also: BTF offsets against /proc facts.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.kernel]

MARKER_C = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void mark(void) {
    const char *p = getenv("JB_MARKER");
    if (p) { int fd = open(p, O_CREAT | O_WRONLY, 0600); if (fd >= 0) close(fd); }
}
int main(void) { return 0; }
"""


def _skip() -> str | None:
    from jibril_rules.sensor.bccload import SensorUnavailable, preflight
    try:
        preflight()
    except SensorUnavailable as e:
        return str(e)
    if not shutil.which("gcc"):
        return "gcc not installed (needed to build the marker binary)"
    return None


def _build(tmp: Path, name: str) -> Path:
    src = tmp / "m.c"
    src.write_text(MARKER_C)
    exe = tmp / name
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


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


@pytest.mark.parametrize("enforce", [True, False], ids=["enforce", "monitor"])
def test_prevent_kill_at_exec(tmp_path: Path, enforce: bool) -> None:
    reason = _skip()
    if reason:
        pytest.skip(reason)
    name = f"jbprev-{uuid.uuid4().hex[:8]}"
    exe = _build(tmp_path, name)
    rec = tmp_path / "r.yaml"
    rec.write_text(f"""- kind: test
  name: prevent_{name.replace('-', '_')}
  mechanism: execution
  file_actions: [execve]
  prevent: kill
  when: file.basename == "{name}"
  reactions:
    - format: js
      code: |
        function process(data) {{
          WriteFile("{tmp_path}/kill-result", String(KillCurrent()));
        }}
""")
    agent, th, out = _agent(rec, tmp_path, enforce)
    try:
        marker = tmp_path / "marker"
        p = subprocess.run([str(exe)], env={**os.environ, "JB_MARKER": str(marker)},
                           check=False, timeout=10)
        result = tmp_path / "kill-result"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not ("prevent" in out.getvalue() and result.exists()):
            time.sleep(0.05)
    finally:
        agent.stop()
        th.join(10)
    text = out.getvalue()
    if enforce:
        assert p.returncode == -signal.SIGKILL, p.returncode
        assert not marker.exists(), "the constructor ran: the kill came too late"
        assert "jibril: prevented: kill" in text, text
        assert result.read_text() == "1"  # the reaction still ran: KillCurrent() found it killed
    else:
        assert p.returncode == 0
        assert marker.exists()
        assert "would prevent" in text, text


def test_btf_offsets_match_proc(tmp_path: Path) -> None:
    """Fields read at BTF offsets (exe, argv, cwd, ppid, exe inode) equal /proc's view."""
    reason = _skip()
    if reason:
        pytest.skip(reason)
    from jibril_rules.core.kernel_tables import KernelTables
    from jibril_rules.core.vocab import action_mask
    from jibril_rules.sensor import layout as L
    from jibril_rules.sensor.sensor import Sensor
    name = f"jbbtf-{uuid.uuid4().hex[:8]}"
    exe = tmp_path / name
    shutil.copy("/bin/sleep", exe)
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    recs: list[Any] = []
    s = Sensor(KernelTables(file_base=((name, action_mask(["execve"])),)), lambda e: None)
    s.start()
    orig = s.asm.handle_record
    s.asm.handle_record = lambda kind, rec: (recs.append((kind, rec)), orig(kind, rec))[1]  # type: ignore[method-assign]
    try:
        p = subprocess.Popen([str(exe), "1", "0"], cwd=work)
        time.sleep(0.3)
        proc_exe = os.readlink(f"/proc/{p.pid}/exe")
        proc_cwd = os.readlink(f"/proc/{p.pid}/cwd")
        proc_cmd = Path(f"/proc/{p.pid}/cmdline").read_bytes()
        st = os.stat(exe)
        deadline = time.monotonic() + 5
        mine: list[Any] = []
        while time.monotonic() < deadline and not mine:
            s.poll(50)
            mine = [r for k, r in recs if k == L.EV_EXEC2 and r.h.tgid == p.pid]
        p.wait()
    finally:
        s.close()
    assert mine, "no exec record"
    r = mine[0]
    assert r.pk.path.decode() == proc_exe == str(exe)
    assert r.cwd.decode() == proc_cwd == str(work)
    assert bytes(r.args[:r.args_len]) == proc_cmd
    assert r.ppid == os.getpid()
    assert r.exe_ino == st.st_ino
    assert r.flags & L.F_PASSED
