"""Replay throughput at 10/100/1,000 recipes and lint+compile time for 1,000 recipes.

Prints ratios measured side by side in one run. Usage: python bench/bench_compiler.py [--events N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from gen import events, recipes_yaml  # noqa: E402

from jibril_rules.compiler.driver import compile_ruleset  # noqa: E402
from jibril_rules.compiler.ruleset import load_paths  # noqa: E402
from jibril_rules.runtime.engine import Engine  # noqa: E402
from jibril_rules.runtime.events import normalize  # noqa: E402
from jibril_rules.tools.lint import LintOptions, lint_paths  # noqa: E402


def build(n: int, tmp: str) -> str:
    path = os.path.join(tmp, f"r{n}.yaml")
    with open(path, "w") as f:
        f.write(recipes_yaml(n))
    return path


def rate(engine: Engine, evs: list[dict], rounds: int = 3) -> tuple[float, int]:
    best = 0.0
    hits = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        hits = 0
        for ev in evs:
            hits += len(engine.process(ev, normalized=True))
        best = max(best, len(evs) / (time.perf_counter() - t0))
    return best, hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        compile_line = lint_compile_line(tmp)  # before 200k events fill the heap (GC cost)
        print(f"replay throughput, {a.events} events (pre-parsed; kernel model + tree), one core, "
              f"best of {a.rounds} interleaved rounds")
        setups = {}
        for n in (10, 100, 1000):
            b = compile_ruleset(load_paths([build(n, tmp)]))
            setups[n] = (b, [normalize(e) for e in events(a.events, n)])
        rates: dict[int, float] = {}
        tree: dict[int, float] = {}
        hits: dict[int, int] = {}
        for _ in range(a.rounds):  # interleaved, best of: robust to noise on a shared machine
            for n, (b, evs) in setups.items():
                r_full, hits[n] = rate(Engine(b), evs, rounds=1)
                r_tree, _ = rate(Engine(b, kernel_model=False), evs, rounds=1)
                rates[n] = max(rates.get(n, 0.0), r_full)
                tree[n] = max(tree.get(n, 0.0), r_tree)
        for n in setups:
            print(f"  {n:5d} recipes: {rates[n]:10,.0f} events/s with kernel model, "
                  f"{tree[n]:10,.0f} tree only, {hits[n]} detections")
        print(f"  ratio 1000/10 recipes: {rates[1000] / rates[10]:.2f} (target >= 0.8)")
        raw = [json.dumps(e) for e in events(50_000, 1000)]
        b = compile_ruleset(load_paths([build(1000, tmp)]))
        eng = Engine(b)
        t0 = time.perf_counter()
        for line in raw:
            eng.process(json.loads(line))
        print(f"  end-to-end from JSON lines at 1000 recipes: {len(raw) / (time.perf_counter() - t0):,.0f} events/s")
        print(compile_line)


def lint_compile_line(tmp: str) -> str:
    path = build(1000, tmp)
    lint_paths([build(10, tmp)])  # imports and grammar loaded once, as in a running tool
    t0 = time.perf_counter()
    _, diags = lint_paths([path], LintOptions(netpolicy=True))
    t1 = time.perf_counter()
    compile_ruleset(load_paths([path]))
    t2 = time.perf_counter()
    cli = [sys.executable, "-m", "jibril_rules.cli"]
    c0 = time.perf_counter()
    subprocess.run([*cli, "lint", path, "--netpolicy"], check=True, capture_output=True)
    c1 = time.perf_counter()
    subprocess.run([*cli, "compile", path, "-o", os.path.join(tmp, "b.jbundle")], check=True,
                   capture_output=True)
    c2 = time.perf_counter()
    return (f"lint 1000 recipes: {t1 - t0:.2f} s ({len(diags)} diagnostics); compile: {t2 - t1:.2f} s; "
            f"lint+compile {t2 - t0:.2f} s in process (target <= 2 s); as two CLI runs, interpreter "
            f"start included: {c1 - c0:.2f} s + {c2 - c1:.2f} s = {c2 - c0:.2f} s")

if __name__ == "__main__":
    main()
