"""Live sensor benchmark (root). Prints side by side, in one run:

(a) an open-heavy loop on an unwatched file (openat+close; a C loop and a Python loop; the
    child's CPU time) with no agent, with the previous syscall-tracepoint design, and with
    the current design holding the alchemies/ bundle, +200 and +1,000 generated file recipes;
(b) a non-file syscall loop (1M getppid) with no agent and with the current design;
(c) the floor of each mechanism (its hooks attached, tables that match nothing);
(d) event -> kill latency p50/p99: a JS KillCurrent() reaction and `prevent: kill`.

Rounds are interleaved (every configuration once per round); min and median are printed.
Bounded: about 2-3 minutes with the defaults.

    sudo python bench/bench_sensor.py [--rounds 3] [--opens 200000] [--kills 20]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jibril_rules.core.kernel_tables import KernelTables  # noqa: E402
from jibril_rules.core.vocab import action_mask  # noqa: E402

C_LOOP = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]);
    int who = RUSAGE_SELF;
    if (!strcmp(argv[1], "open")) {
        for (long i = 0; i < n; i++) close(open(argv[3], O_RDONLY));
    } else if (!strcmp(argv[1], "exec")) { /* the children's CPU time: exec hooks run there */
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p == 0) { execl(argv[3], argv[3], (char *)0); _exit(127); }
            waitpid(p, 0, 0);
        }
        who = RUSAGE_CHILDREN;
    } else {
        for (long i = 0; i < n; i++) getppid();
    }
    struct rusage ru;
    getrusage(who, &ru);
    printf("%.6f\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6);
    return 0;
}
"""
PY_LOOP = ("import os,sys,time\nn=int(sys.argv[1]); p=sys.argv[2]; t=time.process_time()\n"
           "for _ in range(n):\n    os.close(os.open(p, os.O_RDONLY))\n"
           "print(time.process_time()-t)")
RECIPE = """- kind: bench_{i}
  name: bench_recipe_{i}
  mechanism: file_access
  importance: low
  file_actions: [open, write]
  bases:
    - dir: /etc/bench{i}
      base: app{i}.conf
"""


class Env:
    def __init__(self, opens: int) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="jb-bench-"))
        self.target = self.tmp / "target.txt"
        self.target.write_text("x")
        (self.tmp / "loop.c").write_text(C_LOOP)
        self.cbin = self.tmp / "loop"
        subprocess.run(["gcc", "-O2", "-o", str(self.cbin), str(self.tmp / "loop.c")], check=True)
        (self.tmp / "noop.c").write_text("int main(void) { return 0; }\n")
        self.noop = self.tmp / "noop"
        subprocess.run(["gcc", "-O2", "-static", "-o", str(self.noop), str(self.tmp / "noop.c")],
                       check=True)
        self.opens = opens

    def c_open(self) -> float:
        return float(subprocess.run([str(self.cbin), "open", str(self.opens), str(self.target)],
                                    check=True, capture_output=True, text=True).stdout)

    def c_getppid(self) -> float:
        return float(subprocess.run([str(self.cbin), "getppid", "1000000"], check=True,
                                    capture_output=True, text=True).stdout)

    def py_open(self) -> float:
        return float(subprocess.run([sys.executable, "-c", PY_LOOP, str(self.opens // 2),
                                     str(self.target)], check=True, capture_output=True,
                                    text=True).stdout)

    def spawn(self, n: int = 300) -> float:
        """Children's CPU time per fork+exec of a static no-op (the exec hooks run there)."""
        return float(subprocess.run([str(self.cbin), "exec", str(n), str(self.noop)], check=True,
                                    capture_output=True, text=True).stdout) / n


def bundle_tables(extra: int, alchemies: bool = True) -> Any:
    from jibril_rules.compiler.driver import load_any
    paths = [str(ROOT / "alchemies")] if alchemies else []
    if extra:
        d = Path(tempfile.mkdtemp(prefix="jb-recipes-"))
        (d / "gen.yaml").write_text("".join(RECIPE.format(i=i) for i in range(extra)))
        paths.append(str(d / "gen.yaml"))
    return load_any(paths).tables


class Pumped:
    """A started Sensor with a thread polling its ring buffers."""

    def __init__(self, tables: KernelTables, design: str = "current") -> None:
        from jibril_rules.sensor.sensor import Sensor
        self.s = Sensor(tables, lambda _e: None, design=design)
        self.s.start()
        self.stop = threading.Event()
        self.th = threading.Thread(target=self._pump, daemon=True)
        self.th.start()

    def _pump(self) -> None:
        while not self.stop.is_set():
            self.s.poll(50)

    def close(self) -> dict[str, Any]:
        self.stop.set()
        self.th.join()
        st = self.s.stats().to_json()
        self.s.close()
        return st


Measure = dict[str, Callable[[], float]]


def run_a_b_c(env: Env, rounds: int, pairs: int = 3) -> None:
    none = KernelTables()
    fsync_only = KernelTables(file_base=(("jb-no-such-file", action_mask(["fsync"])),))
    with_close = KernelTables(file_base=(("jb-no-such-file", action_mask(["close", "fsync"])),))
    net_port = KernelTables(net_remote_ports=(1,))
    print("compiling bundles (alchemies, +200, +1000 generated file recipes)...", flush=True)
    t_alch, t_200, t_1000 = bundle_tables(0), bundle_tables(200), bundle_tables(1000)
    t_marks = bundle_tables(200, alchemies=False)
    from jibril_rules.sensor.plan import plan
    # configuration name -> (design, tables); "none" is no agent at all
    cur: list[tuple[str, KernelTables]] = [
        ("current: alchemies/", t_alch), ("current: alchemies/ + 200 file recipes", t_200),
        ("current: alchemies/ + 1000 file recipes", t_1000),
        ("floor: exec mechanism only (empty tables)", none),
        ("floor: fallback sys_exit (fsync basename)", fsync_only),
        ("floor: fallback sys_exit + sys_enter (close)", with_close),
        ("floor: marks (200 exact-path recipes only)", t_marks),
        ("floor: network mechanism (one port)", net_port),
    ]
    legacy: list[tuple[str, KernelTables]] = [
        ("previous design: alchemies/ + 200", t_200), ("previous design: empty tables", none)]
    # Paired ratios (this host is shared and noisy): every measurement is divided by a
    # reference taken right next to it. Current-design configurations: the same sensor
    # reloaded to empty tables (exec mechanism only: its sched hooks never fire in these
    # loops); the previous design and the exec-only floor: no agent, before and after.
    ratios: dict[str, dict[str, list[float]]] = {}
    absolute: dict[str, list[float]] = {}
    kinds = ("c", "py", "getppid", "spawn")
    runs = {"c": env.c_open, "py": env.py_open, "getppid": env.c_getppid, "spawn": env.spawn}

    def one(kind_list: tuple[str, ...]) -> dict[str, float]:
        return {k: runs[k]() for k in kind_list}

    def add(name: str, val: dict[str, float], ref: dict[str, float]) -> None:
        for k, v in val.items():
            ratios.setdefault(name, {}).setdefault(k, []).append(v / ref[k])

    want = {n: ("c", "py") for n, _ in (*legacy, *cur) if not n.startswith("floor")}
    for n, _ in cur:
        want.setdefault(n, ("c",))
    want["current: alchemies/ + 200 file recipes"] = ("c", "py", "getppid")
    want["floor: marks (200 exact-path recipes only)"] = ("c", "py", "getppid")
    want["floor: exec mechanism only (empty tables)"] = kinds
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        before = one(kinds)
        absolute.setdefault("c", []).append(before["c"])
        p = Pumped(legacy[0][1], design="legacy")
        leg = {}
        for name, t in legacy:
            p.s.reload(t)
            leg[name] = one(want[name])
        p.close()
        p = Pumped(none)
        exec_only = one(kinds)
        for name, t in cur:
            if name.startswith("floor: exec"):
                continue
            for _ in range(pairs):  # short alternations: the host's noise averages out
                p.s.reload(none)
                ref = one(want[name])
                p.s.reload(t)
                add(name, one(want[name]), ref)
        p.close()
        after = one(kinds)
        noagent = {k: (before[k] + after[k]) / 2 for k in kinds}
        for name, v in leg.items():
            add(name, v, noagent)
        add("floor: exec mechanism only (empty tables)", exec_only, noagent)

    def cell(name: str, kind: str) -> str:
        xs = ratios.get(name, {}).get(kind)
        if not xs:
            return f"{'':>17}"
        return f"{min(xs):5.3f}x / {statistics.median(xs):5.3f}x"

    names = [*(n for n, _ in legacy), *(n for n, _ in cur)]
    print()
    print(f"(a) open-heavy loop on an unwatched file ({env.opens} openat+close in C, "
          f"{env.opens // 2} in Python; child CPU time; paired ratio, min / median of {rounds})")
    print(f"  {'configuration':<46} {'C loop':>17}   {'Python loop':>17}")
    for n in names:
        print(f"  {n:<46} {cell(n, 'c'):>17}   {cell(n, 'py'):>17}")
    base_ns = statistics.median(absolute["c"]) / env.opens * 1e9
    print(f"  (no agent: {base_ns:.0f} ns per C iteration, median)")
    print()
    print("(b) 1M getppid() (C, CPU time; paired ratio, min / median)")
    for n in names:
        if "getppid" in ratios.get(n, {}):
            print(f"  {n:<46} {cell(n, 'getppid'):>17}")
    print()
    print("(c) floors: extra ns per C openat+close iteration (median paired ratio - 1) x baseline")
    for n in names:
        xs = ratios.get(n, {}).get("c")
        if xs:
            print(f"  {n:<46} {(statistics.median(xs) - 1) * base_ns:+7.0f} ns")
    sp = ratios.get("floor: exec mechanism only (empty tables)", {}).get("spawn")
    if sp:
        print(f"  exec mechanism per fork+exec of a static no-op (children's CPU time): "
              f"{statistics.median(sp):.3f}x median, {min(sp):.3f}x min")
    print("  mechanisms the current design picks (from `jibril compile` / `jibril run`):")
    from jibril_rules.sensor.mechanism import available
    for label, t in (("alchemies/ + 200", t_200),):
        for line in plan(t, available()[0]).lines():
            print(f"    [{label}] {line}")


WAITER = ("import os,sys,time,signal\nt0=time.time(); pid=os.fork()\n"
          "if pid==0:\n    os.execv(sys.argv[1], [sys.argv[1], '30'])\n"
          "_, st = os.waitpid(pid, 0); t1=time.time()\n"
          "how = 'killed' if os.WIFSIGNALED(st) and os.WTERMSIG(st)==signal.SIGKILL else 'other'\n"
          "print(pid, t0, t1, how)")


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def run_d(n: int) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime
    from jibril_rules.sensor.agent import Agent, AgentOptions
    tmp = Path(tempfile.mkdtemp(prefix="jb-kill-"))
    js_exe, pv_exe = tmp / "xmrig", tmp / "jbprevent-sleep"
    shutil.copy("/bin/sleep", js_exe)
    shutil.copy("/bin/sleep", pv_exe)
    (tmp / "prevent.yaml").write_text(f"""- kind: bench
  name: bench_prevent_kill
  mechanism: execution
  file_actions: [execve]
  prevent: kill
  when: file.basename == "{pv_exe.name}"
""")
    bundle = load_any([str(ROOT / "alchemies/crypto_miner_executed/recipe.yaml"),
                       str(ROOT / "alchemies/_shared"), str(tmp / "prevent.yaml")])
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
    lat: dict[str, dict[str, list[float]]] = {"js": {"event": [], "spawn": []},
                                              "prevent": {"event": [], "spawn": []}}
    try:
        for i in range(2 * n):
            which = "js" if i % 2 == 0 else "prevent"
            exe = js_exe if which == "js" else pv_exe
            w = subprocess.run([sys.executable, "-c", WAITER, str(exe)], capture_output=True,
                               text=True, timeout=10, check=False)
            try:
                pid_s, t0_s, t1_s, how = w.stdout.split()
            except ValueError:
                continue
            if how != "killed":
                continue
            pid, t0, t1 = int(pid_s), float(t0_s), float(t1_s)
            lat[which]["spawn"].append((t1 - t0) * 1e3)
            time.sleep(0.05)
            if pid in stamps:
                lat[which]["event"].append((t1 - stamps[pid]) * 1e3)
    finally:
        agent.stop()
        th.join(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"(d) event -> kill ({n} spawns each, interleaved)")
    for which, label in (("js", "JS KillCurrent() reaction"), ("prevent", "prevent: kill (kernel)")):
        ev, sp = lat[which]["event"], lat[which]["spawn"]
        if which == "prevent":
            print(f"  {label:<28} killed {len(sp)}/{n} at exec, before the first instruction; "
                  f"spawn -> reaped p50 {_pct(sp, .5):5.1f} ms  p99 {_pct(sp, .99):5.1f} ms")
        else:
            print(f"  {label:<28} killed {len(sp)}/{n}; event delivered -> reaped p50 "
                  f"{_pct(ev, .5):5.1f} ms  p99 {_pct(ev, .99):5.1f} ms; spawn -> reaped p50 "
                  f"{_pct(sp, .5):5.1f} ms  p99 {_pct(sp, .99):5.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--opens", type=int, default=100_000)
    ap.add_argument("--pairs", type=int, default=3, help="alternations per configuration and round")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--skip-kill", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_sensor needs root (it loads eBPF programs)")
    if not shutil.which("gcc"):
        sys.exit("bench_sensor needs gcc (the C loop)")
    t0 = time.monotonic()
    env = Env(a.opens)
    try:
        run_a_b_c(env, a.rounds, a.pairs)
    finally:
        shutil.rmtree(env.tmp, ignore_errors=True)
    if not a.skip_kill:
        run_d(a.kills)
    print(f"\n(bench took {time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
