"""Agent memory with 1,000 recipes: the runtime path alone vs. the runtime with the compiler.

Each variant runs in a fresh interpreter (interleaved rounds, min and median printed):

- runtime only: what `jibril run` holds now: the CLI package, the agent, the event pipeline,
  a 1,000-recipe bundle read through runtime/loading.py and an Engine built over it;
- + compiler imported: the same with the compiler imported too (lark, cerberus, the
  grammar), as before issue 8, when importing the engine imported bundle.py = compiler;
- + compiled in-process: the bundle compiled in the agent's own interpreter (load_any),
  the compiler's garbage included.

No root needed: the eBPF side (bench/bench_sensor.py) is the same in every variant.

    python bench/bench_agent_rss.py [--recipes 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen import recipes_yaml  # noqa: E402  (the benchmarks' realistic recipe mix)

CHILD = r"""
import gc, json, sys
mode, path = sys.argv[1], sys.argv[2]
import jibril_rules.cli, jibril_rules.cli.live, jibril_rules.sensor.agent  # what `jibril run` imports
from jibril_rules.runtime.engine import Engine
from jibril_rules.runtime.pipeline import Pipeline
if mode == "runtime":
    from jibril_rules.runtime.loading import load_isolated
    bundle = load_isolated([path])
elif mode == "imported":
    import jibril_rules.compiler.driver  # noqa: F401
    from jibril_rules.runtime.loading import load_isolated
    bundle = load_isolated([path])
else:
    from jibril_rules.compiler.driver import load_any
    bundle = load_any([path.replace(".jbundle", ".yaml")])
pipe = Pipeline(Engine(bundle, kernel_model=False, aggregate_s=9.0))
gc.collect()
rss = 0
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        rss = int(line.split()[1])
print(json.dumps({"rss_kb": rss, "recipes": len(bundle.recipes),
                  "lark": "lark" in sys.modules, "cerberus": "cerberus" in sys.modules}))
"""

MODES = (("runtime", "runtime only"), ("imported", "+ compiler imported"),
         ("inprocess", "+ compiled in-process"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipes", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    from jibril_rules.bundle import write
    from jibril_rules.compiler.driver import load_any
    with tempfile.TemporaryDirectory(prefix="jb-agent-rss-") as tmp:
        src = Path(tmp) / "recipes.yaml"
        src.write_text(recipes_yaml(a.recipes))
        bundle = Path(tmp) / "recipes.jbundle"
        write(load_any([str(src)]), str(bundle))
        got: dict[str, list[float]] = {m: [] for m, _ in MODES}
        info: dict[str, dict[str, object]] = {}
        for _ in range(a.rounds):  # interleaved: machine noise hits every variant alike
            for mode, _label in MODES:
                r = subprocess.run([sys.executable, "-c", CHILD, mode, str(bundle)], cwd=ROOT,
                                   capture_output=True, text=True, check=True)
                d = json.loads(r.stdout)
                got[mode].append(d["rss_kb"] / 1024)
                info[mode] = d
    print(f"agent RSS (MB) with {a.recipes} recipes, {a.rounds} interleaved rounds, fresh "
          "interpreter each, no eBPF")
    base = min(got["runtime"])
    for mode, label in MODES:
        v = got[mode]
        i = info[mode]
        print(f"  {label:24s} min {min(v):6.1f}  median {statistics.median(v):6.1f}  "
              f"(x{min(v) / base:.2f} of runtime only; lark loaded: {i['lark']}, "
              f"cerberus loaded: {i['cerberus']}, {i['recipes']} recipes)")


if __name__ == "__main__":
    main()
