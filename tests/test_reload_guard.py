"""Review finding 10: a reload that would drop every recipe (an emptied recipe folder) is
refused with a logged reason, the agent keeps detecting; `--force` loads it anyway."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from agent_support import Lines, Seen, wait_until


def _wait(pred: Any, timeout: float = 10.0) -> bool:
    return wait_until(pred, timeout)


pytestmark = [pytest.mark.root, pytest.mark.kernel]


def test_emptied_folder_reload_is_refused_unless_forced(tmp_path: Path) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.sensor.agent import Agent, AgentOptions
    d = tmp_path / "watched"
    d.mkdir()
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        f"- kind: watch\n  name: touched\n  mechanism: file_access\n  file_actions: [create]\n"
        f"  bases: [{{dir: '{d}'}}]\n")
    err, seen = Lines(), Seen()
    agent = Agent(load_any([str(folder)]), [seen], None, loader=lambda: load_any([str(folder)]),
                  opts=AgentOptions(status_every_s=3600, aggregate_s=0), out=open(os.devnull, "w"), err=err)
    agent.start()
    th = threading.Thread(target=agent.run, daemon=True)
    th.start()
    try:
        (folder / "r.yaml").unlink()  # the folder is now empty
        agent.request_reload()
        assert _wait(lambda: "reload refused" in err.text()), err.text()
        assert "0 recipes" in err.text() and "--force" in err.text()
        assert [r.name for r in agent.bundle.recipes] == ["touched"]
        subprocess.run(["/bin/sh", "-c", f": > '{d}/a'"], check=True, timeout=30)
        assert _wait(lambda: "touched" in seen.names), "the agent went blind"
        agent.request_reload(force=True)
        assert _wait(lambda: "reloaded bundle" in err.text()), err.text()
        assert agent.bundle.recipes == ()
    finally:
        agent.stop()
        th.join(10)
