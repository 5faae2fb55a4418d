"""The agent loop: sensor -> the event pipeline (runtime/pipeline.py), with reload and status lines.

Used by `jibril run` (cli/live.py), the end-to-end tests and bench/bench_sensor.py.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from ..observe.systemd import notify as sd_notify
from .sensor import Sensor, SensorStats

log = logging.getLogger("jibril_rules.agent")


@dataclass(frozen=True)
class AgentOptions:
    status_every_s: float = 10.0
    stats_json: bool = False
    duration_s: float | None = None
    aggregate_s: float = 9.0  # gather per-syscall file actions like Jibril's 9 s cadence
    design: str = "current"  # "legacy": the previous syscall-tracepoint sensor (bench only)


class Agent:
    """Runs one bundle live. `loader` re-reads the bundle on SIGHUP (None: no reload)."""

    def __init__(self, bundle: Any, printers: list[Any], runtime: Any | None,
                 loader: Callable[[], Any] | None = None, opts: AgentOptions | None = None,
                 out: IO[str] | None = None, err: IO[str] | None = None,
                 observer: Any | None = None) -> None:
        from ..runtime.engine import Engine
        from ..runtime.pipeline import Pipeline
        self.bundle = bundle
        self.opts = opts or AgentOptions()
        # the kernel (and the assembler for relative paths) already applied the tables
        self.engine = Engine(bundle, kernel_model=False, aggregate_s=self.opts.aggregate_s)
        self.pipeline = Pipeline(self.engine, printers, runtime, watcher=observer)
        self.printers = self.pipeline.printers  # one list: what the pipeline prints to
        self.runtime = runtime
        self.loader = loader
        self.out = out or sys.stdout
        self.err = err  # None: status lines go through logging (jibril run sets it up)
        self.obs = observer  # observe.Observer: metrics, status page, /healthz
        if observer is not None and runtime is not None:
            runtime.listeners.append(observer.on_reaction)
        from ..observe.systemd import Watchdog
        self.watchdog = Watchdog.from_env()
        self.sensor = Sensor(bundle.tables, self.on_event, design=self.opts.design)
        net = getattr(getattr(runtime, "services", None), "net", None)
        if net is not None and hasattr(net, "learned"):  # NetBlockDomain follows DNS answers
            self.sensor.asm.dns_listeners.append(net.learned)
            net.domain_sinks.append(self._block_domain_in_kernel)
        self.default_mode = "monitor"  # prevent: mode without a reactions runtime
        self._stop = False
        self._reload = False
        self._force = False
        self._loading: _Load | None = None  # a reload's loader running beside the loop
        self._last: SensorStats | None = None
        # fleet follow mode: a vetted bundle handed in from another thread, swapped in run()
        self._offer: tuple[Any, Callable[[Exception | None], None]] | None = None
        self.extras: dict[str, Callable[[], dict[str, Any]]] = {}  # more status sections

    def _block_domain_in_kernel(self, domain: str) -> None:
        for m in list(self.sensor.mechs.values()):
            if hasattr(m, "block_domain"):
                m.block_domain(domain)

    # -- event path --------------------------------------------------------------------
    def on_event(self, ev: dict[str, Any]) -> None:
        kp = ev.get("kernel_prevent")
        for d in self.pipeline.feed(ev):
            if kp is not None and d.recipe.index == kp["recipe_index"]:
                self._prevent_line(d, kp)

    def _prevent_line(self, d: Any, kp: dict[str, Any]) -> None:
        what = "prevented" if kp["enforced"] else "would prevent (monitor mode)"
        self.out.write(f"jibril: {what}: {kp['action']} {d.recipe.name} pid "
                       f"{d.event.get('process', {}).get('pid')} in the kernel\n")
        self.out.flush()
        if kp["enforced"] and self.obs is not None:  # jibril_prevented_total, the status page
            self.obs.on_prevented(d.recipe.name)

    def prevent_mode(self, r: Any) -> str:
        if self.runtime is not None:
            from ..reactions import RecipeRef
            return str(self.runtime.mode_for(RecipeRef(r.kind, r.name)))
        return str(r.mode or self.default_mode)

    def prevent_modes(self, bundle: Any) -> dict[int, bool]:
        return {r.index: self.prevent_mode(r) == "enforce" for r in bundle.recipes
                if getattr(r, "prevent", None)}

    def sync_prevent(self) -> None:
        """Each prevent: recipe's mode into the kernel's recipe_mode map, live (after
        `jibril ctl mode`)."""
        for idx, enforce in self.prevent_modes(self.bundle).items():
            self.sensor.set_mode(idx, enforce)

    @property
    def matches(self) -> int:
        return self.pipeline.matches

    @property
    def reaction_rejects(self) -> int:
        return self.pipeline.reaction_rejects

    # -- control -----------------------------------------------------------------------
    def stop(self, *_: Any) -> None:
        self._stop = True

    def request_reload(self, *_: Any, force: bool = False) -> None:
        """SIGHUP or `jibril ctl reload [--force]`: reload at the next loop turn."""
        self._force = self._force or force
        self._reload = True

    def offer(self, bundle: Any, done: Callable[[Exception | None], None]) -> None:
        """Swap to `bundle` on the event loop's next turn; `done(error or None)` after."""
        self._offer = (bundle, done)
        self._reload = True

    def install_signals(self) -> None:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGHUP, self.request_reload)

    def reload(self, bundle: Any | None = None, force: bool = False) -> bool:
        """Swap in the new bundle; False when refused (the current one keeps running).

        A reload that would drop every recipe (an emptied or unmounted recipe folder) leaves
        the agent blind, so it is refused unless forced (`jibril ctl reload --force`).
        """
        b = bundle if bundle is not None else (self.loader() if self.loader else None)
        if b is None:
            return False
        if not b.recipes and self.bundle.recipes and not force:
            self._say(f"jibril: reload refused: the new recipes are empty (0 recipes); keeping the "
                      f"current bundle ({len(self.bundle.recipes)} recipes). Use `jibril ctl reload "
                      "--force` to run with no recipes")
            return False
        self.sensor.set_modes(self.prevent_modes(b))  # the new indices, before the flip
        rep = self.sensor.reload(b.tables)
        self.engine.reload(b)
        self.bundle = b
        self.warm()
        release_memory()
        if self.obs is not None:
            self.obs.on_bundle(str(b.hash), rep.gen, [r.name for r in b.recipes], reload=True)
        self._say(f"jibril: reloaded bundle {str(b.hash)[:12]} ({len(b.recipes)} recipes, "
                  f"{rep.entries} kernel entries, generation {rep.gen}, {rep.seconds * 1e3:.1f} ms)")
        return True

    def warm(self) -> None:
        """Compile every reaction before the first event, so the first kill pays no cold start."""
        self.pipeline.warm()

    def start(self) -> None:
        # Reactions run on worker threads: hand them the GIL within 0.5 ms instead of
        # CPython's default 5 ms, or a busy event loop delays every kill by up to 5 ms.
        sys.setswitchinterval(0.0005)
        self.sensor.set_modes(self.prevent_modes(self.bundle))
        rep = self.sensor.start()
        self.warm()
        release_memory()
        hooks = self.sensor.hooks()
        plan = self.sensor.plan
        for line in (plan.lines() if plan is not None else []):
            self.out.write(f"jibril: mechanism {line}\n")
        for name, why in sorted(self.sensor.unavailable.items()):
            self.out.write(f"jibril: mechanism {name} not used: {why}\n")
        self._last = self.sensor.stats()
        if self.obs is not None:  # before the ready line: whoever reads it finds /healthz 200
            self.obs.sensor_source = self.sensor.stats
            self.obs.mode_source = self.modes
            self.obs.on_bundle(str(self.bundle.hash), rep.gen, [r.name for r in self.bundle.recipes])
            self.obs.set_ready()
        self.out.write(f"jibril: ready: {len(hooks)} hooks attached, {len(self.bundle.recipes)} "
                       f"recipes, {rep.entries} kernel entries (generation {rep.gen})\n")
        self.out.flush()
        sd_notify("READY=1\nSTATUS=monitoring")

    def modes(self) -> dict[str, str]:
        """Current reaction mode of each recipe that has reactions."""
        if self.runtime is None:
            return {}
        from ..runtime.dispatch import reaction_call
        return {r.name: self.runtime.mode_for(reaction_call(r)[0])
                for r in self.bundle.recipes if r.reactions}

    def status(self) -> dict[str, Any]:
        cur = self.sensor.stats()
        prev = self._last or cur
        dt = max(cur.at - prev.at, 1e-9)
        rt = self.runtime.stats() if self.runtime is not None else {}
        # `overflow` counts the reactions lost to a full queue, once (not the detection,
        # and not again here as a rejected submit)
        errors = sum(int(rt.get(k, 0)) for k in ("error", "timeout", "memory", "overflow"))
        self._last = cur
        return {"kernel_eps": round((cur.seen - prev.seen) / dt, 1),
                "userspace_eps": round((cur.events - prev.events) / dt, 1),
                "matches": self.matches, "drops": cur.lost,
                "reaction_errors": errors,
                "sensor": cur.to_json(), **{k: f() for k, f in self.extras.items()}}

    def _status_line(self) -> None:
        s = self.status()
        if self.opts.stats_json:
            self._say(json.dumps(s, sort_keys=True))
        else:
            self._say(f"jibril: {s['kernel_eps']:.0f} ev/s kernel, {s['userspace_eps']:.0f} ev/s "
                      f"userspace, {s['matches']} matches, {s['drops']} drops, "
                      f"{s['reaction_errors']} reaction errors"
                      + "".join(f"; {s[k]['summary']}" for k in self.extras if "summary" in s[k]))
        sd_notify(f"STATUS={s['matches']} matches, {s['drops']} drops, "
                  f"{s['reaction_errors']} reaction errors")  # `systemctl status` shows it

    def _say(self, line: str, level: int = logging.INFO) -> None:
        if self.err is None:
            log.log(level, line)
            return
        self.err.write(line + "\n")
        self.err.flush()

    def run(self) -> None:
        """start() must have been called. Returns on stop() or after duration_s."""
        t0 = time.monotonic()
        next_status = t0 + self.opts.status_every_s
        try:
            while not self._stop:
                self.sensor.poll(100)
                now = time.monotonic()
                if self.obs is not None:
                    self.obs.tick(now)
                self.watchdog.maybe_ping(now)
                self._reload_step()
                if now >= next_status:
                    self._status_line()
                    next_status = now + self.opts.status_every_s
                if self.opts.duration_s is not None and now - t0 >= self.opts.duration_s:
                    break
            self.sensor.drain()
        finally:
            sd_notify("STOPPING=1")
            self._status_line()
            self.close()

    def _reload_step(self) -> None:
        """Start a requested reload's loader beside the loop (compiling can take longer than
        the watchdog allows); swap its bundle in, on the loop, once it is done."""
        if self._reload and self._loading is None:
            self._reload, force, self._force = False, self._force, False
            offer, self._offer = self._offer, None
            if offer is not None:  # follow mode: a bundle already vetted, swapped in as it is
                self._swap_offer(*offer, force=force)
                return
            if self.loader is None:
                self._swap(None, force)
                return
            self._loading = _Load(self.loader, force)
        job = self._loading
        if job is not None and job.done.is_set():
            self._loading = None
            self._swap(job, job.force)

    def _swap(self, job: _Load | None, force: bool) -> None:
        try:
            if job is None:
                self.reload(force=force)
            elif (b := job.result()) is not None:
                self.reload(b, force=force)
        except Exception as e:  # a bad bundle keeps the old one running
            self._reload_failed(e)

    def _swap_offer(self, bundle: Any, done: Callable[[Exception | None], None],
                    force: bool) -> None:
        try:
            swapped = self.reload(bundle, force=force)
        except Exception as e:  # a bad bundle keeps the old one running
            self._reload_failed(e)
            done(e)
        else:
            done(None if swapped else RuntimeError(
                "the agent refused the swap (a bundle with no recipes)"))

    def _reload_failed(self, e: Exception) -> None:
        if self.obs is not None:
            self.obs.on_bundle("", 0, [], ok=False, reload=True)
        self._say(f"jibril: reload failed, keeping the current bundle: {e}", logging.WARNING)

    def close(self) -> None:
        self.sensor.close()
        self.pipeline.close()


class _Load:
    """A reload's loader (compiling recipes in a child, reading a bundle) on its own thread, so
    the loop keeps reading events, answering /healthz and pinging the watchdog meanwhile."""

    def __init__(self, loader: Callable[[], Any], force: bool) -> None:
        self.force = force
        self.bundle: Any = None
        self.error: Exception | None = None
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(loader,), name="jibril-reload",
                         daemon=True).start()

    def _run(self, loader: Callable[[], Any]) -> None:
        try:
            self.bundle = loader()
        except Exception as e:  # handed to the loop, which reports it
            self.error = e
        finally:
            self.done.set()

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.bundle


def release_memory() -> None:
    """Give back the heap clang/LLVM used to build the BPF program (glibc keeps it otherwise)."""
    import gc
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
