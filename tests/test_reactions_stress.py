"""V8 engines are created safely under any concurrency (issue 7, the segfault).

Two threads inside `mr_init_context` at once aborted the process (exit 133/139). The stress:
20 recipes x 3 JS reactions, with reactions that time out and run out of memory in the mix
(their isolates are thrown away and recreated while others fire), in-process rounds and
`jibril replay` subprocesses; and `jibril replay` of a recipe with 3 JS reactions exits 0
in 50 of 50 runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef

ROOT = Path(__file__).resolve().parent.parent
SPIN = "function process(data) { while (true) {} }"
OOM = "function process(data) { const a = []; while (true) a.push(new Array(1e5).fill(1)); }"


def _reactions(i: int) -> list[tuple[str, dict[str, int]]]:
    out: list[tuple[str, dict[str, int]]] = [
        (f"function process(data) {{ Info('r{i}.{j}'); DataIncr('n'); }}", {}) for j in range(2)]
    if i % 4 == 0:
        out.append((SPIN, {"timeout_ms": 150}))
    elif i % 4 == 1:
        out.append((OOM, {"memory_mb": 8}))
    else:
        out.append((f"function process(data) {{ Warn('{i}'); }}", {}))
    return out


def _recipes_yaml(n: int) -> str:
    parts = []
    for i in range(n):
        body = ""
        for code, limits in _reactions(i):
            lim = "".join(f"      {k}: {v}\n" for k, v in limits.items())
            body += f"    - format: js\n{lim}      code: |\n        {code}\n"
        parts.append(f"- kind: k\n  name: stress_{i}\n  mechanism: file_access\n  file_actions: [write]\n"
                     f"  bases: [{{dir: /etc, base: passwd}}]\n  reactions:\n{body}")
    return "".join(parts)


def _expected(i: int) -> list[str]:
    return ["ok", "ok", "timeout" if i % 4 == 0 else "memory" if i % 4 == 1 else "ok"]


def test_in_process_rounds_with_timeouts_and_ooms(tmp_path: Path) -> None:
    """50 rounds of 20 recipes x 3 reactions fired at once; a fresh runtime every 25 rounds."""
    specs = {i: [ReactionSpec("js", c, j) for j, (c, _) in enumerate(_reactions(i))] for i in range(20)}
    refs = {i: RecipeRef("k", f"stress_{i}", timeout_ms=150 if i % 4 == 0 else None,
                         memory_mb=8 if i % 4 == 1 else None) for i in range(20)}
    for block in range(2):
        cfg = ReactionConfig(state_dir=str(tmp_path / "s"), temp_root=str(tmp_path), workers=8,
                             timeout_ms=2000, log_to_python=False)
        with ReactionRuntime(cfg) as rt, ThreadPoolExecutor(max_workers=10) as ex:
            for _ in range(25):
                got = list(ex.map(lambda i: [r.status for r in rt.run_now(refs[i], specs[i], {"uuid": "u"})],
                                  range(20)))
                assert got == [_expected(i) for i in range(20)]
            st = rt.stats()
        assert st["engines_created"] >= 60 and st["timeout"] == 125 and st["memory"] == 125, (block, st)


def test_replay_subprocesses_never_crash(tmp_path: Path) -> None:
    """`jibril replay` of a 3-JS-reaction recipe: 50 of 50 runs exit 0 (10 at a time); plus
    5 replays of the 20-recipe stress set."""
    (tmp_path / "stress.yaml").write_text(_recipes_yaml(20))
    ev = tmp_path / "ev.jsonl"
    ev.write_text(json.dumps({"uuid": "e", "kind": "file_access",
                              "file": {"file": "/etc/passwd", "actions": ["write"]},
                              "process": {"pid": 999999}}) + "\n")
    env = dict(os.environ, JIBRIL_RULES_STATE=str(tmp_path / "live"), PYTHONPATH=str(ROOT))
    three = tmp_path / "three.yaml"
    three.write_text("- kind: k\n  name: three\n  mechanism: file_access\n  file_actions: [write]\n"
                     "  bases: [{dir: /etc, base: passwd}]\n  reactions:\n"
                     + "".join(f"    - format: js\n      code: |\n        function process(data) "
                               f"{{ Info('{j}'); }}\n" for j in range(3)))
    jobs = [three] * 50 + [tmp_path / "stress.yaml"] * 3

    def replay(recipes: Path) -> tuple[int, str]:
        r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "replay", str(ev), "--from",
                            str(recipes), "--format", "json"], capture_output=True, text=True,
                           cwd=ROOT, env=env, timeout=300)
        return r.returncode, r.stdout + r.stderr[-2000:]

    with ThreadPoolExecutor(max_workers=10) as ex:
        results = list(ex.map(replay, jobs))
    crashes = [(i, rc, out[-800:]) for i, (rc, out) in enumerate(results) if rc != 0]
    assert not crashes, crashes
    for _rc, out in results[50:]:
        statuses = sorted(json.loads(x)["reaction"]["status"] for x in out.splitlines()
                          if x.startswith('{"reaction"'))
        assert statuses == sorted(s for i in range(20) for s in _expected(i))
    assert not (tmp_path / "live").exists()  # replays never touch the live store
