"""Benchmark of the reactions runtime.

Prints: median/p99 of a warm JS reaction making 5 helper calls, the per-helper-call cost of
the synchronous bridge, cold start per recipe (new isolate + lockdown + compile), and
reactions/s with 8 recipes firing in parallel. Monitor mode, no side effects outside a
temporary directory.

    python bench/bench_reactions.py [--runs 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jibril_rules.reactions import Reaction, ReactionConfig, ReactionRuntime, RecipeRef  # noqa: E402

EVENT = {
    "uuid": "bench-1", "timestamp": "2026-01-01T00:00:00Z",
    "metadata": {"kind": "bench", "name": "bench", "importance": "high"},
    "process": {"pid": 999999, "ppid": 999998, "cmd": "curl http://x | sh", "exe": "/usr/bin/curl"},
    "file": {"file": "/usr/bin/curl", "basename": "curl", "actions": ["execve"]},
    "background": {"ancestry": [], "flows": {}},
}
FIVE_CALLS = """function process(data) {
  Info("event " + uuid + " " + data.process.cmd);
  let n = DataIncr("seen");
  DataSet("last", data.process.exe);
  let last = DataGet("last");
  Warn("seen " + n + " last " + last);
}"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="jr-bench-")
    cfg = ReactionConfig(mode="monitor", state_dir=tmp, temp_root=tmp, netpolicy=False,
                         workers=8, log_to_python=False)
    rt = ReactionRuntime(cfg)
    spec = [Reaction("js", FIVE_CALLS)]
    rec0 = RecipeRef("bench", "warm")
    rt.run_now(rec0, spec, EVENT)  # cold
    for _ in range(200):
        rt.run_now(rec0, spec, EVENT)
    lat = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        r = rt.run_now(rec0, spec, EVENT)[0]
        lat.append((time.perf_counter() - t0) * 1000)
    assert r.ok and len(r.calls) == 5, r
    print(f"warm JS reaction, 5 helper calls: median {statistics.median(lat):.3f} ms, "
          f"p99 {pct(lat, 0.99):.3f} ms  ({args.runs} runs)")

    base = [Reaction("js", "function process(data) {}")]
    rt.run_now(RecipeRef("bench", "empty"), base, EVENT)
    empty = []
    for _ in range(1000):
        t0 = time.perf_counter()
        rt.run_now(RecipeRef("bench", "empty"), base, EVENT)
        empty.append((time.perf_counter() - t0) * 1000)
    loop = [Reaction("js", "function process(d) { for (let i = 0; i < 10000; i++) DataSize(); }")]
    rt.run_now(RecipeRef("bench", "calls"), loop, EVENT)
    t0 = time.perf_counter()
    rt.run_now(RecipeRef("bench", "calls"), loop, EVENT)
    per_call = (time.perf_counter() - t0) / 10000 * 1e6
    noop = [Reaction("js", "function process(d) { for (let i = 0; i < 10000; i++) Errno(); }")]
    rt.run_now(RecipeRef("bench", "errno"), noop, EVENT)
    t0 = time.perf_counter()
    rt.run_now(RecipeRef("bench", "errno"), noop, EVENT)
    per_bridge = (time.perf_counter() - t0) / 10000 * 1e6
    print(f"empty reaction: median {statistics.median(empty):.3f} ms; helper call: "
          f"{per_bridge:.1f} us bridge round trip (Errno), {per_call:.1f} us with a SQLite read "
          "(DataSize)")

    cold = []
    for i in range(20):
        t0 = time.perf_counter()
        rt.run_now(RecipeRef("bench", f"cold{i}"), [Reaction("js", FIVE_CALLS + f"\n// {i}")], EVENT)
        cold.append((time.perf_counter() - t0) * 1000)
    print(f"cold start per recipe (new isolate + lockdown + compile + run): median "
          f"{statistics.median(cold):.1f} ms, max {max(cold):.1f} ms")

    recipes = [RecipeRef("bench", f"par{i}") for i in range(8)]
    for r8 in recipes:
        rt.warm(r8, spec)
    n = 4000
    t0 = time.perf_counter()
    sent = 0
    while sent < n:
        for r8 in recipes:
            while not rt.submit(r8, spec, EVENT):
                time.sleep(0.0005)
            sent += 1
    rt.drain(120)
    dt = time.perf_counter() - t0
    st = rt.stats()
    print(f"8 recipes in parallel (workers={cfg.workers}, 2 cores): {n / dt:.0f} reactions/s "
          f"({n} reactions in {dt:.2f} s, overflow retries counted: {st['overflow']})")
    rt.close()


if __name__ == "__main__":
    main()
