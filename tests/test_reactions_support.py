"""Shared fixtures-in-functions for the reactions tests."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

from jibril_rules.reactions import Reaction, ReactionConfig, ReactionRuntime, RecipeRef

SEEDS = Path(__file__).parent / "reactions_data" / "seed_examples"


def make_event(pid: int = 999_999, ppid: int = 999_998, cmd: str = "xmrig --pool x",
               basename: str = "xmrig", importance: str = "critical",
               remote: str = "203.0.113.9", uuid: str = "evt-1") -> dict[str, Any]:
    bg = {
        "ancestry": [{"pid": ppid, "comm": "bash", "cmd": "bash"},
                     {"pid": pid, "comm": basename, "cmd": cmd}],
        "flows": {"ip_version": 4, "protocols": [{"proto": "tcp", "pairs": [
            {"nodes": {"local": {"address": "10.0.0.1", "name": "", "names": []},
                       "remote": {"address": remote, "name": "pool.example",
                                  "names": ["pool.example"]}},
             "port_matrix": [{"src_port": 40000, "dst_port": 443}]}]}]},
        "files": {"root": {}},
    }
    meta = {"kind": "k", "name": "n", "importance": importance, "tactic": "execution",
            "technique": "t", "subtechnique": ""}
    return {
        "uuid": uuid, "timestamp": "2026-01-01T00:00:00Z", "mechanism": "execution",
        "metadata": meta,
        "process": {"pid": pid, "ppid": ppid, "uid": 0, "comm": basename, "cmd": cmd,
                    "exe": f"/tmp/{basename}", "args": "", "exit": "running"},
        "file": {"file": f"/tmp/{basename}", "dir": "/tmp", "basename": basename,
                 "actions": ["execve"], "execve": True},
        "background": bg,
        "base": {"uuid": uuid, "metadata": meta, "background": copy.deepcopy(bg)},
    }


def make_runtime(tmp_path: Path, **kw: Any) -> ReactionRuntime:
    opts: dict[str, Any] = {
        "mode": "monitor", "state_dir": str(tmp_path / "state"), "temp_root": str(tmp_path),
        "audit_path": str(tmp_path / "audit.jsonl"), "netpolicy": False, "timeout_ms": 2000,
        "log_to_python": False,
    }
    opts.update(kw)
    return ReactionRuntime(ReactionConfig(**opts))


def js(code: str) -> Reaction:
    return Reaction("js", code)


def recipe(name: str = "r", **kw: Any) -> RecipeRef:
    return RecipeRef(kind="test_kind", name=name, **kw)


def start_sleeper(seconds: int = 30) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", str(seconds)])
