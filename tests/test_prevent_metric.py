"""jibril_prevented_total moves when the kernel prevents an operation (enforce), not when it
only would (monitor): prevent: deny on open of a file created under tmp_path."""

from __future__ import annotations

import io
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.kernel]


@pytest.mark.parametrize("enforce", [True, False], ids=["enforce", "monitor"])
def test_prevented_operations_are_counted_per_recipe(tmp_path: Path, enforce: bool) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.observe.hub import Observer
    from jibril_rules.sensor.agent import Agent, AgentOptions
    d = tmp_path / "vault"
    d.mkdir()
    secret = d / f"secret-{uuid.uuid4().hex[:6]}"
    secret.write_text("s")
    rec = tmp_path / "r.yaml"
    rec.write_text(f"- kind: test\n  name: deny_counted\n  mechanism: file_access\n"
                   f"  file_actions: [open]\n  prevent: deny\n"
                   f"  bases:\n    - base: {secret.name}\n      dir: {d}\n")
    out, obs = io.StringIO(), Observer()
    agent = Agent(load_any([str(rec)]), [], None, opts=AgentOptions(status_every_s=3600),
                  out=out, err=out, observer=obs)
    agent.default_mode = "enforce" if enforce else "monitor"
    agent.start()
    th = threading.Thread(target=agent.run, daemon=True)
    th.start()
    try:
        if "marks" not in agent.sensor.mechs:
            pytest.skip(f"no fanotify marks mechanism here: {agent.sensor.unavailable}")
        subprocess.run(["cat", str(secret)], capture_output=True, timeout=10,
                       env=dict(os.environ, LC_ALL="C"))
        end = time.monotonic() + 10
        while time.monotonic() < end and "prevent" not in out.getvalue():
            time.sleep(0.05)
    finally:
        agent.stop()
        th.join(15)
    assert "prevent" in out.getvalue(), out.getvalue()
    got = obs.metrics.value("prevented", "deny_counted")
    assert got == (1 if enforce else 0), (got, out.getvalue())
    row = next(r for r in obs.status()["recipes"] if r["name"] == "deny_counted")
    assert row["prevented"] == (1 if enforce else 0)
