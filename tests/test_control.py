"""The agent's control socket: switch monitor/enforce at runtime, per recipe, without reload."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef
from jibril_rules.runtime.control import ControlServer, agent_handler, request

ROOT = Path(__file__).resolve().parent.parent


def test_mode_switch_takes_effect_on_the_next_run(tmp_path: Path) -> None:
    rt = ReactionRuntime(ReactionConfig(mode="monitor", state_dir=str(tmp_path / "s"),
                                        temp_root=str(tmp_path)))
    reloads: list[bool] = []
    srv = ControlServer(str(tmp_path / "ctl.sock"), agent_handler(rt, lambda force=False: reloads.append(force),
                                                                  lambda: {"matches": 3}))
    srv.start()
    try:
        sock = str(tmp_path / "ctl.sock")
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        victim = subprocess.Popen(["sleep", "30"])
        ref = RecipeRef("k", "killer")
        spec = [ReactionSpec("js", "function process(data) { KillCurrent(); }")]
        det = {"uuid": "u1", "process": {"pid": victim.pid}, "metadata": {}}
        (rec,) = rt.run_now(ref, spec, det)
        assert rec.mode == "monitor" and victim.poll() is None  # dry run: still alive
        assert request(sock, {"cmd": "mode", "mode": "enforce", "recipe": "killer"})["mode"] == "enforce"
        assert request(sock, {"cmd": "mode", "mode": "enforce", "recipe": "other"})["ok"]
        (rec,) = rt.run_now(ref, spec, dict(det, uuid="u2"))
        assert rec.mode == "enforce" and victim.wait(timeout=5) == -signal.SIGKILL
        assert request(sock, {"cmd": "clear-mode", "recipe": "killer"})["mode"] == "monitor"
        assert request(sock, {"cmd": "stats"}) == {"ok": True, "stats": {"matches": 3}}
        assert request(sock, {"cmd": "reload"})["ok"] and reloads == [False]
        assert request(sock, {"cmd": "reload", "force": True})["force"] and reloads == [False, True]
        bad = request(sock, {"cmd": "mode", "mode": "loud"})
        assert not bad["ok"] and "monitor or enforce" in bad["error"]
        assert not request(sock, {"cmd": "nope"})["ok"]
    finally:
        srv.close()
        rt.close()
    assert not (tmp_path / "ctl.sock").exists()


def test_ctl_without_agent_says_what_to_do(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "ctl", "stats", "--socket",
                        str(tmp_path / "none.sock")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "is `jibril run` running?" in r.stderr


@pytest.mark.root
@pytest.mark.kernel
def test_live_agent_answers_ctl(tmp_path: Path) -> None:
    sock = str(tmp_path / "ctl.sock")
    (tmp_path / "jibril.yaml").write_text(  # the agent reads ./jibril.yaml: keep its files here
        f"reactions: {{state_dir: '{tmp_path}/state', temp_root: '{tmp_path}', netpolicy: false}}\n")
    env = dict(os.environ)
    agent = subprocess.Popen([sys.executable, "-m", "jibril_rules.cli", "run", "--from",
                              str(ROOT / "alchemies"), "--dry-run", "--for", "60", "--control", sock],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path,
                             env=env)
    try:
        assert agent.stdout is not None
        line = agent.stdout.readline()
        while line and "ready" not in line and line.startswith("jibril: mechanism"):
            line = agent.stdout.readline()  # `jibril run` first says which mechanisms it uses
        assert "ready" in line, line
        out = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "ctl", "mode", "enforce",
                              "--recipe", "crypto_miner_executed", "--socket", sock],
                             capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0 and json.loads(out.stdout)["mode"] == "enforce"
        st = json.loads(subprocess.run([sys.executable, "-m", "jibril_rules.cli", "ctl", "stats",
                                        "--socket", sock], capture_output=True, text=True).stdout)
        assert "kernel_eps" in st["stats"]
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    assert agent.returncode == 0
    time.sleep(0.1)
    assert not Path(sock).exists()
