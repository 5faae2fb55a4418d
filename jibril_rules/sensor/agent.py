"""The agent loop: sensor -> the event pipeline (runtime/pipeline.py), with reload and status lines.

Used by `jibril run` (cli/live.py), the end-to-end tests and bench/bench_sensor.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from .sensor import Sensor, SensorStats

log = logging.getLogger("jibril_rules.agent")


def sd_notify(state: str) -> bool:
    """Tell systemd (Type=notify) about our state; no-op when NOTIFY_SOCKET is unset."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(state.encode())
        return True
    except OSError:
        return False


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
        self._last: SensorStats | None = None

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
        self.out.write(f"jibril: ready: {len(hooks)} hooks attached, {len(self.bundle.recipes)} "
                       f"recipes, {rep.entries} kernel entries (generation {rep.gen})\n")
        self.out.flush()
        if self.obs is not None:
            self.obs.sensor_source = self.sensor.stats
            self.obs.mode_source = self.modes
            self.obs.on_bundle(str(self.bundle.hash), rep.gen, [r.name for r in self.bundle.recipes])
            self.obs.set_ready()
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
        errors = sum(int(rt.get(k, 0)) for k in ("error", "timeout", "overflow"))
        self._last = cur
        return {"kernel_eps": round((cur.seen - prev.seen) / dt, 1),
                "userspace_eps": round((cur.events - prev.events) / dt, 1),
                "matches": self.matches, "drops": cur.lost,
                "reaction_errors": errors + self.reaction_rejects,
                "sensor": cur.to_json()}

    def _status_line(self) -> None:
        s = self.status()
        if self.opts.stats_json:
            self._say(json.dumps(s, sort_keys=True))
        else:
            self._say(f"jibril: {s['kernel_eps']:.0f} ev/s kernel, {s['userspace_eps']:.0f} ev/s "
                      f"userspace, {s['matches']} matches, {s['drops']} drops, "
                      f"{s['reaction_errors']} reaction errors")
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
                if self._reload:
                    self._reload, force, self._force = False, self._force, False
                    try:
                        self.reload(force=force)
                    except Exception as e:  # a bad bundle keeps the old one running
                        if self.obs is not None:
                            self.obs.on_bundle("", 0, [], ok=False, reload=True)
                        self._say(f"jibril: reload failed, keeping the current bundle: {e}",
                                  logging.WARNING)
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

    def close(self) -> None:
        self.sensor.close()
        self.pipeline.close()


def release_memory() -> None:
    """Give back the heap clang/LLVM used to build the BPF program (glibc keeps it otherwise)."""
    import gc
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
