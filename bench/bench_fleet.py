"""Benchmark of the fleet parts (issue 10), with real servers on 127.0.0.1.

1. Re-tag -> first detection by the new bundle (root, eBPF): an agent follows a tag on a
   local docker-registry; each round re-tags it to a signed bundle adding one recipe, and a
   process creates that recipe's file every 20 ms until the agent reports it. Median of 5,
   with the parts: until the follower saw the new digest (re-tags land at a random phase of
   the poll), pull + verify + load in the child, swap (reload path) to the first detection.
2. DataIncr on Redis (the shared store) against SQLite (the embedded one), side by side:
   the store call alone and the helper called from a JS reaction. Rounds are interleaved.

    sudo python bench/bench_fleet.py [--every 2s] [--rounds 5] [--incr 2000] [--skip-follow]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fleet_support import redis_server, registry  # noqa: E402


def _recipe(name: str, path: str) -> str:
    return f"""
- kind: watch
  name: {name}
  mechanism: file_access
  file_actions: [create]
  bases: [{{regex: '{path}'}}]
"""


class Collector:
    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def emit(self, d: Any) -> None:
        self.seen.setdefault(d.recipe_name, time.monotonic())

    def close(self) -> None:
        pass


def bench_follow(tmp: Path, every: str, rounds: int) -> None:
    from jibril_rules.bundle import write
    from jibril_rules.compiler.driver import compile_ruleset
    from jibril_rules.compiler.ruleset import load_paths
    from jibril_rules.fleet.follow import Audit, Follower, FollowOptions, LastGood, parse_duration
    from jibril_rules.fleet.oci import Client
    from jibril_rules.fleet.signing import keygen, sign_file
    from jibril_rules.fleet.trust import TrustPolicy
    from jibril_rules.sensor.agent import Agent, AgentOptions
    d = tmp / "watched"
    d.mkdir()
    key, pub = keygen(str(tmp / "k"))
    base = _recipe("base", f"{d}/base")
    srcs = [base] + [base + _recipe(f"added_{i}", f"{d}/new{i}") for i in range(rounds)]
    bundles = []
    for i, text in enumerate(srcs):
        (tmp / f"r{i}.yaml").write_text(text)
        b = compile_ruleset(load_paths([str(tmp / f"r{i}.yaml")]))
        write(b, str(tmp / f"b{i}.jbundle"))
        sign_file(str(tmp / f"b{i}.jbundle"), key)
        bundles.append(tmp / f"b{i}.jbundle")
    with registry(tmp / "registry") as reg:
        client = Client(plain_http=True)
        repo = f"{reg.addr}/bench/rules"
        digests = [client.push(p.read_bytes(), Path(str(p) + ".sig").read_bytes(), f"{repo}:v{i}",
                               p.name) for i, p in enumerate(bundles)]
        client.retag(f"{repo}@{digests[0]}", "stable")
        marks: dict[str, float] = {}

        def say(line: str) -> None:
            if "switched to bundle" in line:
                marks["swapped"] = time.monotonic()
        fol = Follower(FollowOptions(f"{repo}:stable", parse_duration(every), True),
                       TrustPolicy.from_paths([pub], "bench"), LastGood(str(tmp / "state")),
                       Audit(None), say)
        orig_vet = fol.vet

        def timed_vet(art: Any) -> Any:
            marks["seen"] = time.monotonic()
            out = orig_vet(art)
            marks["vetted"] = time.monotonic()
            return out
        fol.vet = timed_vet  # type: ignore[method-assign]
        col = Collector()
        null = open(os.devnull, "w")  # noqa: SIM115
        agent = Agent(fol.initial(), [col], None, opts=AgentOptions(status_every_s=3600),
                      out=null, err=null)
        agent.start()
        th = threading.Thread(target=agent.run, daemon=True)
        th.start()
        fol.start(agent.offer)
        rows = []
        try:
            for i in range(1, rounds + 1):
                name, target = f"added_{i - 1}", d / f"new{i - 1}"
                time.sleep(random.uniform(0, fol.opts.every_s))  # re-tag at a random poll phase
                marks.clear()
                t0 = time.monotonic()
                client.retag(f"{repo}@{digests[i]}", "stable")
                end = t0 + 60
                while name not in col.seen and time.monotonic() < end:
                    subprocess.run(["/bin/sh", "-c", f": > '{target}'"], check=True)
                    time.sleep(0.02)
                if name not in col.seen:
                    print(f"  round {i}: no detection within 60 s")
                    continue
                t = col.seen[name]
                seen, vetted = marks.get("seen", t), marks.get("vetted", t)
                rows.append((t - t0, seen - t0, vetted - seen, t - vetted))
                print(f"  round {i}: {rows[-1][0]:.2f} s (poll wait {rows[-1][1]:.2f}, pull+verify+"
                      f"child load {rows[-1][2]:.2f}, swap to first detection {rows[-1][3]:.3f})")
        finally:
            fol.stop()
            agent.stop()
            th.join(10)
    if rows:
        tot = [r[0] for r in rows]
        print(f"re-tag -> first detection (--every {every}, {len(rows)} rounds): median "
              f"{statistics.median(tot):.2f} s, min {min(tot):.2f} s; median parts: poll wait "
              f"{statistics.median(r[1] for r in rows):.2f} s, pull+verify+child load "
              f"{statistics.median(r[2] for r in rows):.2f} s, swap to first detection "
              f"{statistics.median(r[3] for r in rows) * 1e3:.0f} ms")


def bench_incr(tmp: Path, n: int, rounds: int) -> None:
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef
    from jibril_rules.reactions.datastore import DataStore
    from jibril_rules.reactions.store_redis import RedisStore
    with redis_server(tmp / "redis") as red:
        stores: dict[str, Any] = {"sqlite": DataStore(str(tmp / "s.sqlite")),
                                  "redis": RedisStore(red.url)}
        per: dict[str, list[float]] = {k: [] for k in stores}
        for _ in range(rounds):  # interleaved
            for k, s in stores.items():
                t0 = time.perf_counter()
                for _i in range(n):
                    s.incr("bench", "shared:c", 1)
                per[k].append((time.perf_counter() - t0) / n * 1e6)
        for s in stores.values():
            s.close()
        print(f"store.incr ({n} calls x {rounds} rounds): " + ", ".join(
            f"{k} median {statistics.median(v):.1f} us (min {min(v):.1f})" for k, v in per.items())
            + f"; redis/sqlite = {statistics.median(per['redis']) / statistics.median(per['sqlite']):.2f}x")
        code = "function process(data) { for (let i = 0; i < 200; i++) DataIncr('shared:c'); }"
        rts = {k: ReactionRuntime(ReactionConfig.from_dict({
            "mode": "monitor", "state_dir": str(tmp / f"st-{k}"), "temp_root": str(tmp),
            "audit_path": "", "store": red.url if k == "redis" else ""})) for k in stores}
        ref, specs = RecipeRef("bench", "bench"), [ReactionSpec("js", code)]
        js: dict[str, list[float]] = {k: [] for k in rts}
        for rt in rts.values():
            rt.run_now(ref, specs, {"uuid": "warm"})
        for r in range(rounds):
            for k, rt in rts.items():
                t0 = time.perf_counter()
                rec = rt.run_now(ref, specs, {"uuid": f"b{r}"})[0]
                js[k].append((time.perf_counter() - t0) / 200 * 1e6)
                assert rec.status == "ok", rec
        for rt in rts.values():
            rt.close()
        print("DataIncr from JS (200 per reaction): " + ", ".join(
            f"{k} median {statistics.median(v):.1f} us (min {min(v):.1f})" for k, v in js.items())
            + f"; redis/sqlite = {statistics.median(js['redis']) / statistics.median(js['sqlite']):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", default="2s")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--incr", type=int, default=2000)
    ap.add_argument("--skip-follow", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="jibril-bench-fleet-") as t:
        tmp = Path(t)
        bench_incr(tmp, a.incr, a.rounds)
        if a.skip_follow:
            return
        if os.geteuid() != 0:
            print("re-tag -> detection: skipped (needs root for the eBPF sensor)")
            return
        bench_follow(tmp, a.every, a.rounds)


if __name__ == "__main__":
    main()
