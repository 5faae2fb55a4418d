"""A reload's loader (compiling the recipes in a child) runs beside the event loop: while it
works the agent keeps detecting, /healthz stays 200 and the watchdog keeps being pinged;
the new bundle is swapped in on the loop when it is ready, and a failed load is reported."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from agent_support import Lines, Seen, wait_until


def _wait(pred: Any, timeout: float = 15.0) -> bool:
    return wait_until(pred, timeout)


pytestmark = [pytest.mark.root, pytest.mark.kernel]


def test_the_loop_keeps_turning_while_a_reload_loads(tmp_path: Path) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.observe.hub import Observer
    from jibril_rules.sensor.agent import Agent, AgentOptions
    d = tmp_path / "watched"
    d.mkdir()
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        f"- kind: watch\n  name: touched\n  mechanism: file_access\n  file_actions: [create]\n"
        f"  bases: [{{dir: '{d}'}}]\n")
    release, entered = threading.Event(), threading.Event()
    fail = {"now": False}

    def slow_loader() -> Any:
        entered.set()
        release.wait(60)  # a long compile
        if fail["now"]:
            raise RuntimeError("the recipes do not compile")
        return load_any([str(folder)])

    err, seen, obs = Lines(), Seen(), Observer(stall_s=0.5)
    agent = Agent(load_any([str(folder)]), [seen], None, loader=slow_loader, observer=obs,
                  opts=AgentOptions(status_every_s=3600, aggregate_s=0),
                  out=open(os.devnull, "w"), err=err)  # noqa: SIM115
    agent.start()
    th = threading.Thread(target=agent.run, daemon=True)
    th.start()
    try:
        agent.request_reload()
        assert entered.wait(15)
        time.sleep(1.0)  # twice the stall bound, with the loader still busy
        assert obs.health()[0] == 200, obs.health()
        subprocess.run(["/bin/sh", "-c", f": > '{d}/a'"], check=True, timeout=30)
        assert _wait(lambda: "touched" in seen.names), "no detection while the reload loads"
        assert "reloaded bundle" not in err.text()
        release.set()
        assert _wait(lambda: "reloaded bundle" in err.text()), err.text()
        assert obs.metrics.value("reloads", "success") == 1
        release.clear()
        entered.clear()
        fail["now"] = True
        agent.request_reload()
        assert entered.wait(15)
        release.set()
        assert _wait(lambda: "reload failed" in err.text()), err.text()
        assert "do not compile" in err.text() and obs.metrics.value("reloads", "failure") == 1
        assert [r.name for r in agent.bundle.recipes] == ["touched"]
    finally:
        release.set()
        agent.stop()
        th.join(15)
