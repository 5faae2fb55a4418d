"""A flood of events faster than the agent handles them must not hold its loop inside one
poll: libbpf reads a ring buffer while the producer keeps writing, so before the poll turn
had a budget no status line, reload, watchdog ping or stop happened until the flood ended."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.kernel]

FLOOD = """
import os, sys, time
d, end, name = sys.argv[1], time.monotonic() + float(sys.argv[2]), sys.argv[3]
p = os.path.join(d, name)
while time.monotonic() < end:
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    os.unlink(p)
"""


class Lines(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, s: str) -> int:
        with self.lock:
            return super().write(s)

    def count(self, word: str) -> int:  # type: ignore[override]
        with self.lock:
            return self.getvalue().count(word)


class SlowPrinter:
    """A consumer slower than the flood: every detection costs 2 ms."""

    def __init__(self) -> None:
        self.n = 0

    def emit(self, d: Any) -> None:
        self.n += 1
        time.sleep(0.002)

    def close(self) -> None:
        pass


def _wait(pred: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


# a directory goes to fanotify marks; a basename to the BPF ring buffer (raw_syscalls)
@pytest.mark.parametrize("via", ["marks", "ring"])
def test_status_lines_and_stop_happen_during_a_flood(tmp_path: Path, via: str) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.sensor.agent import Agent, AgentOptions
    d = tmp_path / "flooded"
    d.mkdir()
    folder = tmp_path / "recipes"
    folder.mkdir()
    name = f"jbflood-{os.getpid()}-{via}"
    base = f"dir: '{d}'" if via == "marks" else f"base: {name}"
    (folder / "r.yaml").write_text(
        "- kind: watch\n  name: flooded\n  mechanism: file_access\n  file_actions: [create]\n"
        f"  bases: [{{{base}}}]\n")
    out = Lines()
    err, printer = Lines(), SlowPrinter()
    agent = Agent(load_any([str(folder)]), [printer], None,
                  opts=AgentOptions(status_every_s=0.2, aggregate_s=0),
                  out=out, err=err)
    agent.start()
    assert (via == "marks") == ("mechanism marks" in out.getvalue()), out.getvalue()
    th = threading.Thread(target=agent.run, daemon=True)
    th.start()
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(d), "15", name])
    try:
        assert _wait(lambda: printer.n > 50, 5), "the flood never reached the agent"
        before = err.count("ev/s kernel")
        t0 = time.monotonic()
        assert _wait(lambda: err.count("ev/s kernel") >= before + 3, 3), \
            "no status line during the flood: one poll held the loop"
        assert flood.poll() is None, "the flood ended too early to tell"
        agent.stop()
        th.join(5)
        assert not th.is_alive(), "stop() not honoured during the flood"
        assert flood.poll() is None and time.monotonic() - t0 < 8
    finally:
        flood.kill()
        flood.wait(10)
        agent.stop()
        th.join(15)


def test_run_for_ends_during_a_flood_with_reactions(tmp_path: Path) -> None:
    """`jibril run --for N` with a reactions runtime ends within N + drain_s + a few seconds,
    also during a flood of matching events (each one submitting a reaction)."""
    root = Path(__file__).resolve().parents[1]
    d = tmp_path / "flooded"
    d.mkdir()
    name = f"jbflood-{os.getpid()}-cli"
    (tmp_path / "jibril.yaml").write_text(  # the agent reads ./jibril.yaml: keep its files here
        f"reactions: {{state_dir: '{tmp_path}/state', temp_root: '{tmp_path}', netpolicy: false, "
        "drain_s: 1}\n")
    (tmp_path / "r.yaml").write_text(
        "- kind: watch\n  name: flooded\n  mechanism: file_access\n  file_actions: [create]\n"
        f"  bases: [{{base: {name}}}]\n"
        "  reactions:\n    - format: js\n      code: |\n"
        "        function process(data) { Info('flooded ' + data.file.file); }\n")
    agent = subprocess.Popen(
        [sys.executable, "-m", "jibril_rules.cli", "run", "--from", str(tmp_path / "r.yaml"),
         "--dry-run", "--for", "3", "--control", "", "--metrics-listen", "", "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)})
    floods: list[subprocess.Popen[bytes]] = []
    try:
        assert agent.stdout is not None
        line = agent.stdout.readline()
        while line and "ready" not in line and line.startswith("jibril: mechanism"):
            line = agent.stdout.readline()
        assert "ready" in line, line
        floods = [subprocess.Popen([sys.executable, "-c", FLOOD, str(d), "60", name])]
        threading.Thread(target=agent.stdout.read, daemon=True).start()  # never block its output
        t0 = time.monotonic()
        agent.wait(timeout=3 + 1 + 12)
        assert all(f.poll() is None for f in floods), "the flood ended first: nothing shown"
        assert agent.returncode == 0, agent.returncode
        print(f"run --for 3 ended {time.monotonic() - t0:.1f} s after ready, during the flood")
    finally:
        for f in floods:
            f.kill()
            f.wait(10)
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)
