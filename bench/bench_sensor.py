"""Live sensor benchmark (root): prints side by side, in one run,

1. an open-heavy workload (a child doing N openat+close of one file) with no agent, with
   every openat shipped to userspace, and with the in-kernel filter holding 200 file
   recipes' tables (none matching the workload);
2. event -> kill latency (p50/p99) of the crypto-miner recipe's KillCurrent reaction;
3. agent RSS with 1,000 recipes compiled and loaded.

    sudo python bench/bench_sensor.py [--opens 200000] [--kills 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
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

from jibril_rules.core.kernel_tables import KernelTables  # noqa: E402
from jibril_rules.core.vocab import action_mask  # noqa: E402

WORKLOAD = ("import os,sys,time\nn=int(sys.argv[1]); p=sys.argv[2]; t=time.process_time()\n"
            "for _ in range(n):\n    os.close(os.open(p, os.O_RDONLY))\n"
            "print(time.process_time()-t)")


def workload(n: int, path: str) -> float:
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(n), path], check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip())


def best_of(n: int, path: str, reps: int = 3) -> float:
    return min(workload(n, path) for _ in range(reps))


WAITER = ("import os,sys,time,signal\nt0=time.time(); pid=os.fork()\n"
          "if pid==0:\n    os.execv(sys.argv[1], [sys.argv[1], '30'])\n"
          "_, st = os.waitpid(pid, 0); t1=time.time()\n"
          "how = 'killed' if os.WIFSIGNALED(st) and os.WTERMSIG(st)==signal.SIGKILL else 'other'\n"
          "print(pid, t0, t1, how)")


def with_sensor(tables: KernelTables, fn: Any) -> tuple[Any, dict[str, Any]]:
    from jibril_rules.sensor.sensor import Sensor
    count = [0]

    def on_event(_ev: dict[str, Any]) -> None:
        count[0] += 1
    s = Sensor(tables, on_event)
    s.start()
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            s.poll(50)
    th = threading.Thread(target=pump, daemon=True)
    th.start()
    try:
        res = fn()
    finally:
        stop.set()
        th.join()
        st = s.stats().to_json()
        s.close()
    st["delivered"] = count[0]
    return res, st


def recipe_tables(n: int) -> KernelTables:
    m = action_mask(["open", "write"])
    exact = tuple(sorted((f"/etc/bench/app{i}/config.yaml", m) for i in range(n // 2)))
    prefix = tuple(sorted((f"/var/lib/bench{i}/", m) for i in range(n // 4)))
    base = tuple(sorted((f"secret{i}.key", m) for i in range(n - n // 2 - n // 4)))
    return KernelTables(file_exact=exact, file_prefix=prefix, file_base=base)


def bench_opens(n: int) -> None:
    d = tempfile.mkdtemp(prefix="jb-bench-")
    path = os.path.join(d, "target.txt")
    Path(path).write_text("x")
    try:
        base = best_of(n, path)
        every = KernelTables(file_any=action_mask(["open"]))
        t_all, st_all = with_sensor(every, lambda: best_of(n, path))
        t_flt, st_flt = with_sensor(recipe_tables(200), lambda: best_of(n, path))
        t_none, _ = with_sensor(KernelTables(), lambda: best_of(n, path))
        base2 = best_of(n, path)
        base = min(base, base2)
    finally:
        shutil.rmtree(d)
    print(f"open-heavy workload: {n} openat+close in a child process (its CPU time, user+sys, best of 3)")
    print(f"  {'no agent':<44} {base:8.3f} s  1.00x")
    print(f"  {'agent, every openat shipped to userspace':<44} {t_all:8.3f} s  {t_all / base:.2f}x"
          f"  (kernel lost {st_all['lost']}, delivered {st_all['delivered']})")
    print(f"  {'agent, in-kernel filter, 200 file recipes':<44} {t_flt:8.3f} s  {t_flt / base:.2f}x"
          f"  (sent {st_flt['sent']} records)")
    print(f"  {'agent attached, empty tables (hook floor)':<44} {t_none:8.3f} s  {t_none / base:.2f}x")


def bench_kill(n: int) -> None:
    from jibril_rules.bundle import load_any
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime
    from jibril_rules.sensor.agent import Agent, AgentOptions
    tmp = Path(tempfile.mkdtemp(prefix="jb-kill-"))
    exe = tmp / "xmrig"
    shutil.copy("/bin/sleep", exe)
    bundle = load_any([str(ROOT / "alchemies/crypto_miner_executed/recipe.yaml"),
                       str(ROOT / "alchemies/_shared")])
    rt = ReactionRuntime(ReactionConfig.from_dict(
        {"mode": "enforce", "state_dir": str(tmp / "state"), "temp_root": str(tmp),
         "log_to_python": False}))
    devnull = open(os.devnull, "w")  # noqa: SIM115
    agent = Agent(bundle, [], rt, opts=AgentOptions(status_every_s=3600), out=devnull,
                  err=devnull)
    stamps: dict[int, float] = {}
    orig = agent.on_event

    def spy(ev: dict[str, Any]) -> None:
        if ev["mechanism"] == "execution":
            stamps[int(ev["process"]["pid"])] = time.time()
        orig(ev)
    agent.sensor.on_event = spy
    agent.start()
    th = threading.Thread(target=agent.run, daemon=True)
    th.start()
    from jibril_rules.reactions import ReactionSpec, RecipeRef
    recipe = bundle.by_name("crypto_miner_executed")
    rt.warm(RecipeRef(recipe.kind, recipe.name),
            [ReactionSpec(r["format"], r["code"], i) for i, r in enumerate(recipe.reactions)])
    lat_event, lat_spawn = [], []
    try:
        for _ in range(n):
            # The miner's parent is a separate process, so the time it is reaped is not
            # delayed by this interpreter's GIL (held by the reaction's helpers).
            w = subprocess.run([sys.executable, "-c", WAITER, str(exe)], capture_output=True,
                               text=True, timeout=10, check=False)
            try:
                pid_s, t0_s, t1_s, how = w.stdout.split()
            except ValueError:
                continue
            pid, t0, t1 = int(pid_s), float(t0_s), float(t1_s)
            if how != "killed":
                continue
            lat_spawn.append((t1 - t0) * 1e3)
            if pid in stamps:
                lat_event.append((t1 - stamps[pid]) * 1e3)
            time.sleep(0.05)
    finally:
        agent.stop()
        th.join(10)
        shutil.rmtree(tmp, ignore_errors=True)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")
    print(f"event -> kill latency ({len(lat_event)}/{n} miners killed, KillCurrent from a JS reaction)")
    print(f"  event delivered to userspace -> process reaped: p50 {pct(lat_event, .5):6.1f} ms"
          f"  p99 {pct(lat_event, .99):6.1f} ms  mean {statistics.fmean(lat_event or [0]):.1f} ms")
    print(f"  spawn (fork+exec) -> process reaped:            p50 {pct(lat_spawn, .5):6.1f} ms"
          f"  p99 {pct(lat_spawn, .99):6.1f} ms")


RECIPE = """- kind: bench_{i}
  name: bench_recipe_{i}
  enabled: true
  version: 1.0
  description: bench
  breed: file_access
  mechanism: file_access
  importance: low
  file_actions: [open, write]
  bases:
    - dir: /etc/bench{i}
      base: app{i}.conf
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_rss(n: int) -> None:
    from jibril_rules.bundle import load_isolated
    from jibril_rules.sensor.agent import Agent, AgentOptions
    tmp = Path(tempfile.mkdtemp(prefix="jb-rss-"))
    try:
        (tmp / "recipes.yaml").write_text("".join(RECIPE.format(i=i) for i in range(n)))
        before = rss_mb()
        bundle = load_isolated([str(tmp / "recipes.yaml")])  # as `jibril run` does
        devnull = open(os.devnull, "w")  # noqa: SIM115
        agent = Agent(bundle, [], None, opts=AgentOptions(status_every_s=3600, duration_s=3),
                      out=devnull, err=devnull)
        agent.start()
        agent.run()
        print(f"agent RSS with {len(bundle.recipes)} recipes loaded and running 3 s: "
              f"{rss_mb():.0f} MB (interpreter before compiling: {before:.0f} MB; "
              f"{bundle.tables.entry_count()} kernel entries)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--opens", type=int, default=200_000)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--recipes", type=int, default=1000)
    ap.add_argument("--only-rss", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_sensor needs root (it loads eBPF programs)")
    if a.only_rss:
        bench_rss(a.recipes)
        return
    bench_opens(a.opens)
    bench_kill(a.kills)
    # a fresh interpreter: the benches above leave bcc/LLVM compile memory behind
    subprocess.run([sys.executable, __file__, "--only-rss", "--recipes", str(a.recipes)],
                   check=False)


if __name__ == "__main__":
    main()
