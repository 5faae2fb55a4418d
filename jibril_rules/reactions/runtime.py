"""ReactionRuntime: executes the reactions of matched recipes.

All reactions of a recipe run in parallel on a bounded worker pool; `submit` never blocks
(a full queue is counted and reported); per-recipe rate limit and dedup window; monitor /
enforce switchable at runtime; every execution is appended to the JSONL audit trail.
This module is the pool, the queue, the gates and shutdown; execution.py runs and records
one reaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..core.reaction import Reaction
from .config import ReactionConfig, RecipeRef
from .execution import Executor, code_hash, now_iso
from .gates import Gates
from .records import ExecutionRecord

log = logging.getLogger("jibril_rules.reactions")


class ReactionRuntime(Executor):
    """Runs reactions. `rehearse=True` (replay, test) pins every run to monitor mode:
    no `set_mode`, recipe mode or config can make it act on the host."""

    def __init__(self, cfg: ReactionConfig, *, rehearse: bool = False) -> None:
        super().__init__(cfg, rehearse=rehearse)
        self._inflight = 0
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="reaction")
        self._gates = Gates(cfg.dedup_window_s, cfg.rate_limit, cfg.rate_window_s)
        self._overflow_logged = 0.0
        self._futures: set[Future[ExecutionRecord]] = set()

    # -- entry points ----------------------------------------------------------------
    def run_now(self, recipe: RecipeRef, reactions: Sequence[Reaction],
                detection: dict[str, Any]) -> list[ExecutionRecord]:
        """Run every reaction of `recipe` in parallel and wait for all of them."""
        gate = self._gate(recipe, reactions, detection)
        if gate is not None:
            return gate
        if len(reactions) == 1:
            return [self._execute(recipe, 0, reactions[0], detection)]
        futures = [self._pool.submit(self._execute, recipe, i, spec, detection)
                   for i, spec in enumerate(reactions)]
        return [f.result() for f in futures]

    def submit(self, recipe: RecipeRef, reactions: Sequence[Reaction],
               detection: dict[str, Any]) -> bool:
        """Queue the reactions; never blocks. False (and a counter) when the queue is full."""
        with self._lock:
            if self._closed or self._inflight + len(reactions) > self.cfg.queue_size:
                # counted once, as the reactions lost (not the detection), and logged
                self._counters["overflow"] += len(reactions)
                self._counters["overflow_detections"] += 1
                lost, now = self._counters["overflow"], time.monotonic()
                say = now - self._overflow_logged >= 1.0
                if say:
                    self._overflow_logged = now
            else:
                say, lost = False, -1
                self._inflight += len(reactions)
                self._counters["submitted"] += 1
        if lost >= 0:
            if say:
                log.warning("reaction queue full (queue_size %d): %d reaction(s) of %s lost; "
                            "%d lost so far", self.cfg.queue_size, len(reactions), recipe.name, lost)
            return False
        if self._gate(recipe, reactions, detection) is not None:
            with self._lock:
                self._inflight -= len(reactions)
            return True
        for i, spec in enumerate(reactions):
            fut = self._pool.submit(self._execute, recipe, i, spec, detection)
            with self._lock:
                self._futures.add(fut)
            fut.add_done_callback(self._done)
        return True

    def _done(self, fut: Future[ExecutionRecord]) -> None:
        with self._lock:
            self._inflight -= 1
            self._futures.discard(fut)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until every submitted reaction has finished."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._inflight == 0:
                    return True
            time.sleep(0.005)
        return False

    def warm(self, recipe: RecipeRef, reactions: Sequence[Reaction]) -> None:
        """Create and compile an isolate per JS reaction ahead of the first event."""
        for spec in reactions:
            if spec.format == "js":
                eng = self._acquire((recipe.name, code_hash(spec.code)), self._mem(recipe))
                self._release((recipe.name, code_hash(spec.code)), eng)

    # -- gates -----------------------------------------------------------------------
    def _gate(self, recipe: RecipeRef, reactions: Sequence[Reaction],
              detection: dict[str, Any]) -> list[ExecutionRecord] | None:
        status = self._gates.check(recipe, detection)
        if status is not None:
            with self._lock:
                self._counters[status] += len(reactions)
        if status is None:
            return None
        records = [self._record(recipe, i, spec, detection, self.mode_for(recipe), now_iso(),
                                0.0, status, None, error=f"reaction {status}")
                   for i, spec in enumerate(reactions)]
        for rec in records:
            self._write_audit(rec)
            self._notify(rec)
        return records

    # -- introspection / shutdown ----------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = dict(self._counters)
            out["inflight"] = self._inflight
            out["engines"] = self._engine_count
            out["idle_engines"] = sum(len(v) for v in self._engines.values())
            out["mode"] = self._mode
            out["mode_overrides"] = dict(self._overrides)
        out.update(getattr(self.services.store, "stats", dict)())  # shared store failures
        audit = self._audit
        out["audit_errors"] = audit.errors if audit else 0
        out["audit_truncated"] = audit.truncated if audit else 0
        out["audit"] = "off" if audit is None else audit.unavailable or "ok"
        out["store"] = getattr(self.services.store, "unavailable", None) or "ok"
        return out

    def close(self, drain_s: float | None = None) -> None:
        """Stop: queued reactions may still run for `drain_s` (default cfg.drain_s); the
        rest are abandoned (queued ones cancelled, running JS terminated), with a count in
        the log and one `shutdown` record in the audit trail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        budget = self.cfg.drain_s if drain_s is None else drain_s
        abandoned = terminated = 0
        if not self.drain(budget):
            with self._lock:
                pending = list(self._futures)
                running = list(self._running)
            abandoned = sum(1 for f in pending if f.cancel())
            for eng in running:
                if eng.terminate():
                    terminated += 1
            with self._lock:
                self._counters["abandoned"] += abandoned + terminated
            log.warning("reactions: stopped after draining for %gs: %d queued reaction(s) "
                        "abandoned, %d running one(s) terminated", budget, abandoned, terminated)
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            engines = [e for lst in self._engines.values() for e in lst]
            self._engines.clear()
        for eng in engines:
            self._discard(eng)
        self.services.store.close()
        if abandoned or terminated:
            self._write_audit({"event": "shutdown", "start": now_iso(), "drain_s": budget,
                               "abandoned": abandoned, "terminated": terminated})
        if self._audit is not None:
            self._audit.close()

    def __enter__(self) -> ReactionRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
