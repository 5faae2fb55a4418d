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
