"""Live, as root: recipes (not hand-made tables) drive the kernel filter and the engine.

- writes, renames and unlinks in a watched temp dir produce detections with the right
  file.actions; reads do not match a write-only recipe;
- reloading a changed bundle takes effect without missing an event emitted during the swap.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from agent_support import wait_until


def _wait(pred: Any, timeout: float = 5.0) -> bool:
    return wait_until(pred, timeout)


pytestmark = [pytest.mark.root, pytest.mark.kernel, pytest.mark.slow]


def sh(script: str) -> None:
    """File activity must come from another process: the agent ignores its own pid."""
    subprocess.run(["/bin/sh", "-c", script], check=True, timeout=60)


def _write(path: Path, recipes: str) -> str:
    path.write_text(recipes)
    return str(path)


class Collector:
    def __init__(self) -> None:
        self.dets: list[Any] = []
        self.lock = threading.Lock()

    def emit(self, d: Any) -> None:
        with self.lock:
            self.dets.append(d)

    def close(self) -> None:
        pass

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d.event for d in self.dets if d.recipe_name == name]


def _start(sources: list[str]) -> tuple[Any, threading.Thread, Collector]:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.sensor.agent import Agent, AgentOptions
    col = Collector()
    out = open(os.devnull, "w")  # noqa: SIM115 - closed with the agent
    agent = Agent(load_any(sources), [col], None, opts=AgentOptions(status_every_s=3600),
                  out=out, err=out)
    agent.start()
    th = threading.Thread(target=agent.run, daemon=True)
    th.start()
    return agent, th, col


def test_watched_dir_actions_and_write_only_recipe(tmp_path: Path) -> None:
    d = tmp_path / "watched"
    d.mkdir()
    src = _write(tmp_path / "r.yaml", f"""
- kind: watch
  name: watched_dir_modified
  mechanism: file_access
  file_actions: [modify_related]
  bases: [{{regex: '{d}/.*'}}]
- kind: watch
  name: watched_file_written
  mechanism: file_access
  file_actions: [write]
  bases: [{{dir: '{d}', base: data.txt}}]
""")
    agent, th, col = _start([src])
    try:
        # create + write, a read (must not match the write-only recipe), rename, unlink
        sh(f"cd '{d}' && echo x > data.txt && cat data.txt > /dev/null && mv data.txt moved.txt && rm moved.txt")
        assert _wait(lambda: any("unlink" in e["file"]["actions"] for e in col.named("watched_dir_modified")))
    finally:
        agent.stop()
        th.join(10)
    seen = {a for e in col.named("watched_dir_modified") for a in e["file"]["actions"]}
    assert {"create", "write", "rename", "unlink"} <= seen, seen
    written = col.named("watched_file_written")
    assert written and all("write" in e["file"]["actions"] for e in written)
    assert not any(e["file"]["actions"] == ["read"] for e in written)
    assert all(e["file"]["file"].startswith(str(d)) for e in col.named("watched_dir_modified"))


def test_reload_changed_bundle_misses_nothing(tmp_path: Path) -> None:
    d = tmp_path / "w"
    d.mkdir()
    common = f"""
- kind: watch
  name: always_watched
  mechanism: file_access
  file_actions: [create]
  bases: [{{regex: '{d}/f[0-9]+'}}]
"""
    a = _write(tmp_path / "a.yaml", common)
    b = _write(tmp_path / "b.yaml", common + f"""
- kind: watch
  name: added_by_reload
  mechanism: file_access
  file_actions: [create]
  bases: [{{dir: '{d}', base: late.txt}}]
""")
    from jibril_rules.compiler.driver import load_any
    agent, th, col = _start([a])
    stop_file = tmp_path / "stop"
    try:
        # create f0, f1, ... until told to stop; the swap happens in the middle
        w = subprocess.Popen(["/bin/sh", "-c", f"cd '{d}' && i=0; while [ ! -e '{stop_file}' ] && "
                              "[ $i -lt 20000 ]; do : > f$i; i=$((i+1)); done"])  # bounded
        time.sleep(0.3)
        agent.reload(load_any([b]))
        time.sleep(0.3)
        stop_file.touch()
        assert w.wait(timeout=30) == 0
        n = len(list(d.glob("f*")))
        sh(f": > '{d}/late.txt'")
        assert _wait(lambda: len({e["file"]["file"] for e in col.named("always_watched")}) >= n
                     and col.named("added_by_reload"), timeout=10)
    finally:
        agent.stop()
        th.join(10)
    files = {e["file"]["file"] for e in col.named("always_watched")}
    missing = [i for i in range(n) if str(d / f"f{i}") not in files]
    assert not missing, f"missed during the swap: {missing[:10]}"
    assert col.named("added_by_reload")
    assert n > 100, "the workload was too short to overlap the swap"


def test_only_needed_hooks_are_attached_and_reload_attaches_more(tmp_path: Path) -> None:
    from jibril_rules.compiler.driver import load_any
    d = tmp_path / "w"
    d.mkdir()
    exec_only = _write(tmp_path / "a.yaml", """
- kind: k
  name: exec_only
  mechanism: execution
  file_actions: [execve]
  bases: [{base: never-run-this-binary}]
""")
    files = _write(tmp_path / "b.yaml", f"""
- kind: k
  name: file_created
  mechanism: file_access
  file_actions: [create]
  bases: [{{dir: '{d}', base: new.txt}}]
""")
    agent, th, col = _start([exec_only])
    try:
        few = agent.sensor.hooks()
        assert not any("syscalls" in h for h in few), few  # exec only: no per-syscall hook
        agent.reload(load_any([files]))
        more = agent.sensor.hooks()
        sh(f": > '{d}/new.txt'")
        assert _wait(lambda: col.named("file_created"))
        agent.reload(load_any([exec_only]))
        assert agent.sensor.hooks() == few
    finally:
        agent.stop()
        th.join(10)
    assert len(few) < len(more), (few, more)
