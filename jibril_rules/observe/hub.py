"""The Observer: what the agent tells observability, in one place (metrics, status, health).

The agent calls on_detection from the event loop, on_reaction from reaction workers (through
the runtime's listeners), tick() every loop turn; the HTTP server reads status() and health().
Everything here is O(1) per call and never blocks on I/O.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from .alerts import shape_of
from .metrics import Metrics

RECENT = 100
SNAPSHOT_EVERY_S = 1.0


def reaction_status(rec: Any) -> str:
    """The metrics label: the record status, `dry_run` for an ok run that only pretended."""
    if rec.status == "ok" and (rec.extra.get("dry_run") or any(c.dry_run for c in rec.calls)):
        return "dry_run"
    return str(rec.status)


def call_result(call: Any) -> str:
    if call.dry_run:
        return "dry_run"
    if call.result == -1 or (call.errno and call.result not in (0, 1)):
        return "error"
    if call.result == 1 and call.name not in ("Info", "Warn", "Error"):
        return "no_effect"
    return "ok"


class Observer:
    def __init__(self, stall_s: float = 10.0) -> None:
        self.metrics = Metrics()
        self.stall_s = stall_s
        self.ready = False
        self.started = time.time()
        self._beat = time.monotonic()
        self._next_snap = 0.0
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._per_recipe: dict[str, dict[str, Any]] = {}
        self.bundle: dict[str, Any] = {}
        self.sensor_source: Any = None  # () -> SensorStats
        self.mode_source: Any = None  # () -> {recipe: mode}
        self.extra_drops: Any = None  # () -> {queue: n} (reaction overflow, log drops)

    # -- lifecycle ---------------------------------------------------------------------
    def on_bundle(self, digest: str, generation: int, recipes: list[str], ok: bool = True,
                  reload: bool = False) -> None:
        m = self.metrics
        if reload:
            m.inc("reloads", "success" if ok else "failure")
        if not ok:
            return
        with self._lock:
            old = self.bundle.get("digest")
            self.bundle = {"digest": digest, "generation": generation, "recipes": len(recipes),
                           "loaded_at": time.time()}
            for r in recipes:
                self._per_recipe.setdefault(r, _recipe_row())
        if old:
            m.m["bundle_info"].remove(old)
        m.m["bundle_info"].labels(digest).set(1)
        m.m["bundle_generation"].set(generation)
        m.m["bundle_loaded_timestamp_seconds"].set(self.bundle["loaded_at"])
        m.m["bundle_recipes"].set(len(recipes))

    def set_ready(self) -> None:
        self.ready = True
        self.metrics.m["ready"].set(1)
        self._beat = time.monotonic()
        self.refresh()

    # -- event path --------------------------------------------------------------------
    def on_detection(self, det: Any) -> None:
        ev = det.event
        meta = ev.get("metadata") or {}
        name = det.recipe_name
        self.metrics.inc("detections", name, str(meta.get("importance") or "none"))
        shape = shape_of(ev)
        uuid = str(ev.get("uuid", ""))
        entry = {"time": shape["time"], "uuid": uuid, "rule": name, "priority": shape["priority"],
                 "output": shape["output"], "fields": shape["output_fields"], "reactions": []}
        with self._lock:
            row = self._per_recipe.setdefault(name, _recipe_row())
            row["detections"] += 1
            key = f"{name}\0{uuid}"
            self._recent[key] = entry
            self._recent.move_to_end(key)
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    def on_reaction(self, rec: Any) -> None:
        m = self.metrics
        status = reaction_status(rec)
        m.inc("reactions", rec.recipe, status)
        if rec.duration_ms:
            m.child("reaction_duration_seconds", rec.recipe).observe(rec.duration_ms / 1000.0)
        for c in rec.calls:
            m.inc("helper_calls", c.name, call_result(c))
        out = {"index": rec.index, "status": status, "mode": rec.mode,
               "duration_ms": round(rec.duration_ms, 3), "error": rec.error,
               "calls": [f"{c.name}={c.result!r}" + (" (dry run)" if c.dry_run else "")
                         for c in rec.calls[:20]], "logs": list(rec.logs[:20])}
        with self._lock:
            row = self._per_recipe.setdefault(rec.recipe, _recipe_row())
            row["reactions"][status] = row["reactions"].get(status, 0) + 1
            entry = self._recent.get(f"{rec.recipe}\0{rec.uuid}")
            if entry is not None:
                entry["reactions"].append(out)

    def on_refused(self, recipe: str, n: int = 1) -> None:
        """Reactions not run because the runtime queue was full."""
        self.metrics.inc("reactions", recipe, "refused", by=n)
        self.metrics.inc("userspace_queue_drops", "reactions", by=n)
        with self._lock:
            row = self._per_recipe.setdefault(recipe, _recipe_row())
            row["reactions"]["refused"] = row["reactions"].get("refused", 0) + n

    def on_prevented(self, recipe: str, n: int = 1) -> None:
        """For the kernel-side prevention (kill/deny): one operation stopped."""
        self.metrics.inc("prevented", recipe, by=n)
        with self._lock:
            self._per_recipe.setdefault(recipe, _recipe_row())["prevented"] += n

    def on_log_dropped(self, recipe: str) -> None:
        self.metrics.inc("log_records_dropped", recipe)

    # -- loop --------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        self._beat = now
        if now >= self._next_snap:
            self._next_snap = now + SNAPSHOT_EVERY_S
            self.refresh()

    def refresh(self) -> None:
        """Copy the pulled values (called from the event loop, never from a scrape)."""
        st = self.sensor_source() if self.sensor_source else None
        modes = self.mode_source() if self.mode_source else {}
        snap = self.metrics.snapshot
        with self.metrics.lock:
            if st is not None:
                snap.kernel = {k: dict(v) for k, v in st.kernel.items()}
                snap.events = {k: int(st.userspace.get(k, 0))
                               for k in ("file_access", "execution", "network_peers")}
            snap.modes = dict(modes)

    def health(self) -> tuple[int, dict[str, Any]]:
        if not self.ready:
            return 503, {"status": "starting"}
        stalled = time.monotonic() - self._beat
        if stalled > self.stall_s:
            return 503, {"status": "stalled", "seconds_since_last_loop": round(stalled, 1)}
        return 200, {"status": "ok"}

    # -- status page -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        snap = self.metrics.snapshot
        with self.metrics.lock:
            kernel = {k: dict(v) for k, v in snap.kernel.items()}
            modes = dict(snap.modes)
        drops: dict[str, Any] = {"kernel_lost": sum(v.get("lost", 0) for v in kernel.values())}
        for q in ("reactions", "http", "syslog"):
            drops[q] = int(self.metrics.value("userspace_queue_drops", q))
        drops["log"] = int(self.metrics.value("log_records_dropped"))
        with self._lock:
            recipes = [{"name": n, "mode": modes.get(n, ""), **_copy_row(r)}
                       for n, r in sorted(self._per_recipe.items())]
            recent = [dict(e, reactions=list(e["reactions"])) for e in reversed(self._recent.values())]
            bundle = dict(self.bundle)
        code, health = self.health()
        return {"health": health["status"], "ready": self.ready, "bundle": bundle,
                "recipes": recipes, "detections": recent, "drops": drops, "kernel": kernel,
                "uptime_s": round(time.time() - self.started, 1)}


def _recipe_row() -> dict[str, Any]:
    return {"detections": 0, "prevented": 0, "reactions": {}}


def _copy_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"detections": r["detections"], "prevented": r["prevented"],
            "reactions": dict(r["reactions"])}
