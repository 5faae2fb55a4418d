"""`jibril replay` and `jibril test` never act on the host (issue 7): they rehearse.

A live process whose pid is in a recorded event survives a replay with an enforce config,
and the live state dir is byte-for-byte unchanged after a replay and a test run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from jibril_rules.reactions import (
    Reaction,
    ReactionConfig,
    ReactionRuntime,
    RecipeRef,
    Rehearsal,
)

ROOT = Path(__file__).resolve().parent.parent

RECIPE = """
- kind: k
  name: killer
  mechanism: file_access
  mode: enforce
  file_actions: [write]
  bases: [{dir: /etc, base: passwd}]
  reactions:
    - format: js
      code: |
        function process(data) {
          DataIncr("hits"); DataSet("last", uuid);
          Info("kill " + KillCurrent() + " " + KillParent());
          WriteFile("/tmp/jr-rehearsal-never-written-" + data.process.pid, "x");
          const d = CreateTempDir(); WriteFile(d + "/evidence", "e");
        }
    - format: shell
      code: |
        kill -9 $PPID; echo ran > /tmp/jr-rehearsal-shell-ran
"""


def _jibril(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env=env)


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, digest)
    return out


def _setup(tmp_path: Path, pid: int, ppid: int) -> tuple[Path, Path, Path, dict[str, str]]:
    live = tmp_path / "live"
    cfg = tmp_path / "jibril.yaml"
    cfg.write_text(f"reactions:\n  mode: enforce\n  state_dir: {live}\n  temp_root: {tmp_path}\n")
    # the live store exists and holds something, as it would under a running agent
    rt = ReactionRuntime(ReactionConfig(state_dir=str(live), temp_root=str(tmp_path)))
    try:
        rt.run_now(RecipeRef("k", "killer"), [Reaction("js", "function process(){DataSet('hits','41')}")], {})
    finally:
        rt.close()
    (tmp_path / "r.yaml").write_text(RECIPE)
    events = tmp_path / "ev.jsonl"
    events.write_text(json.dumps({"uuid": "e1", "kind": "file_access",
                                  "file": {"file": "/etc/passwd", "actions": ["write"]},
                                  "process": {"pid": pid, "ppid": ppid}}) + "\n")
    env = dict(os.environ, JIBRIL_RULES_STATE=str(live), PYTHONPATH=str(ROOT))
    return live, cfg, events, env


def test_live_process_survives_replay_with_enforce_config(tmp_path: Path) -> None:
    parent = subprocess.Popen(["sh", "-c", "sleep 120 & wait"])
    children: list[int] = []
    try:
        import time
        deadline = time.monotonic() + 5
        while not children and time.monotonic() < deadline:
            kids = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
            children = [int(k) for k in kids]
            time.sleep(0.02)
        (child,) = children
        live, cfg, events, env = _setup(tmp_path, child, parent.pid)
        for extra in ((), ("--enforce",)):
            r = _jibril("replay", str(events), "--from", str(tmp_path / "r.yaml"), "--config", str(cfg),
                        "--format", "json", *extra, env=env)
            assert r.returncode == 0, r.stderr
            assert r.stderr.count("notice: reactions are rehearsed") == 1, r.stderr
            reacts = [json.loads(x)["reaction"] for x in r.stdout.splitlines() if '"reaction"' in x]
            assert {x["format"] for x in reacts} == {"js", "shell"}
            assert all(x["mode"] == "monitor" and x["rehearsal"] for x in reacts)
            js = next(x for x in reacts if x["format"] == "js")
            kills = [c for c in js["calls"] if c["name"].startswith("Kill")]
            assert [c["result"] for c in kills] == [0, 0] and all(c["dry_run"] for c in kills)
            assert os.path.exists(f"/proc/{child}") and parent.poll() is None
        assert not Path(f"/tmp/jr-rehearsal-never-written-{child}").exists()
        assert not Path("/tmp/jr-rehearsal-shell-ran").exists()
    finally:
        for pid in children:  # only the sleep this test started
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        parent.kill()
        parent.wait()


def test_live_state_dir_unchanged_after_replay_and_test(tmp_path: Path) -> None:
    live, cfg, events, env = _setup(tmp_path, 999_999, 999_998)
    (tmp_path / "r.test.yaml").write_text(
        "tests:\n  - name: rehearsed\n    events:\n"
        "      - {uuid: a, file: {file: /etc/passwd, actions: [write]}, process: {pid: 999999, ppid: 1}}\n"
        "    expect: {killer: [a]}\n"
        "    actions:\n      - {recipe: killer, helper: DataIncr, args: [hits]}\n")
    before = _snapshot(live)
    assert "reactions.sqlite" in before and "audit.jsonl" in before
    r = _jibril("replay", str(events), "--from", str(tmp_path / "r.yaml"), "--config", str(cfg), env=env)
    assert r.returncode == 0, r.stderr
    assert "DataIncr" in r.stdout
    r = _jibril("test", str(tmp_path), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _snapshot(live) == before


def test_rehearsal_ignores_set_mode_and_recipe_mode(tmp_path: Path) -> None:
    with Rehearsal({"mode": "enforce", "state_dir": str(tmp_path / "live")}) as rt:
        rt.set_mode("enforce")
        rt.set_mode("enforce", recipe_name="r")
        (rec,) = rt.run_now(RecipeRef("k", "r", mode="enforce"),
                            [Reaction("js", "function process(){ KillProcess(999999) }")], {})
        scratch = rt.cfg.state_dir
    assert rec.mode == "monitor" and rec.extra["rehearsal"] and rec.calls[0].dry_run
    assert not (tmp_path / "live").exists() and not os.path.exists(scratch)


def test_rehearsal_never_uses_the_configured_shared_store(tmp_path: Path) -> None:
    """A configured Redis store is what live agents on every host read: a rehearsal keeps to
    its scratch SQLite store (nothing listens on port 1; no connection is even tried)."""
    from jibril_rules.reactions.datastore import DataStore
    reh = Rehearsal({"state_dir": str(tmp_path / "live"), "store": "redis://127.0.0.1:1/0",
                     "store_recipe_keys": True})
    with reh as rt:
        assert reh.shared_store_skipped == "redis://127.0.0.1:1/0" and rt.cfg.store == ""
        assert isinstance(rt.services.store, DataStore)
        (rec,) = rt.run_now(RecipeRef("k", "r"), [Reaction(
            "js", "function process(){ DataIncr('shared:n'); DataSet('e', Errno()) }")], {})
        assert rec.status == "ok" and rt.services.store.get("r", "e") == ""
        assert rt.services.store.get("r", "shared:n") == "1"
    plain = Rehearsal({"state_dir": str(tmp_path / "live")})
    plain.close()
    assert plain.shared_store_skipped == ""
    assert not (tmp_path / "live").exists()
