"""Per-syscall events gathered per (process, file), as the live agent does."""

from __future__ import annotations

from typing import Any

from jibril_rules.compiler.driver import compile_ruleset
from jibril_rules.compiler.ruleset import load_paths
from jibril_rules.runtime.engine import Engine

RECIPES = """
- kind: self_delete
  name: binary_self_deletion
  mechanism: file_access
  file_actions: [open, mmap, unlink, execve]
  file_actions_how: all
  bases: [{regex: /tmp/.*}]
- kind: passwd
  name: passwd_written
  mechanism: file_access
  file_actions: [write]
  bases: [{dir: /etc, base: passwd}]
"""


def ev(pid: int, path: str, action: str) -> dict[str, Any]:
    mech = "execution" if action == "execve" else "file_access"
    return {"mechanism": mech, "process": {"pid": pid, "exe": "/tmp/x"},
            "file": {"file": path, "actions": [action]}}


def engine(tmp_path: Any, window: float) -> Engine:
    (tmp_path / "r.yaml").write_text(RECIPES)
    return Engine(compile_ruleset(load_paths([str(tmp_path / "r.yaml")])), aggregate_s=window)


def names(e: Engine, evs: list[dict[str, Any]]) -> list[str]:
    return [d.recipe_name for x in evs for d in e.process(x)]


def test_how_all_matches_across_syscalls(tmp_path: Any) -> None:
    steps = [ev(500, "/tmp/x", a) for a in ("open", "mmap", "execve", "unlink")]
    assert names(engine(tmp_path, 0), steps) == []  # per syscall, `all` never holds
    assert names(engine(tmp_path, 9), steps) == ["binary_self_deletion"]


def test_one_report_per_process_file_and_window(tmp_path: Any) -> None:
    e = engine(tmp_path, 9)
    steps = [ev(600, "/etc/passwd", a) for a in ("open", "write", "write", "close")]
    steps.append(ev(601, "/etc/passwd", "write"))  # another process: its own report
    assert names(e, steps) == ["passwd_written", "passwd_written"]
    assert e.stats.aggregated == 2
    dets = [d for x in [ev(700, "/etc/passwd", "open"), ev(700, "/etc/passwd", "write")]
            for d in e.process(x)]
    assert dets[0].event["file"]["actions"] == ["open", "write"]
    assert dets[0].event["file"]["write"] is True
