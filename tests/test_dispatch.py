"""A recipe's reaction limits and mode reach the runtime (replay, tests and the agent share this)."""

from __future__ import annotations

from pathlib import Path

from jibril_rules.compiler.driver import compile_ruleset
from jibril_rules.compiler.ruleset import load_paths
from jibril_rules.reactions import ReactionConfig, ReactionRuntime
from jibril_rules.runtime.dispatch import reaction_call
from jibril_rules.runtime.engine import Engine

RECIPE = """
- kind: k
  name: slow_reaction
  mechanism: file_access
  mode: enforce
  file_actions: [write]
  bases: [{dir: /etc, base: passwd}]
  reactions:
    - format: js
      timeout_ms: 150
      code: |
        function process(data) { while (true) {} }
"""


def test_per_recipe_timeout_and_mode(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    b = compile_ruleset(load_paths([str(tmp_path / "r.yaml")]))
    (det,) = Engine(b).process({"file": {"file": "/etc/passwd", "actions": ["write"]},
                                "process": {"pid": 4242}})
    ref, specs = reaction_call(det.recipe)
    assert (ref.timeout_ms, ref.mode, len(specs)) == (150, "enforce", 1)
    rt = ReactionRuntime(ReactionConfig(state_dir=str(tmp_path / "s"), temp_root=str(tmp_path)))
    try:
        (rec,) = rt.run_now(ref, specs, det.event)
    finally:
        rt.close()
    assert rec.status == "timeout" and rec.mode == "enforce"
    assert 100 <= rec.duration_ms < 1500, rec.duration_ms  # the recipe's 150 ms, not the default 2 s
