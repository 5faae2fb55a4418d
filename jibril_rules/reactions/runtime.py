"""ReactionRuntime: executes the reactions of matched recipes.

All reactions of a recipe run in parallel on a bounded worker pool; `submit` never blocks
(a full queue is counted and reported); per-recipe rate limit and dedup window; monitor /
enforce switchable at runtime; every execution is appended to the JSONL audit trail.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import xxhash

from .audit import AuditLog
from .config import ReactionConfig, ReactionSpec, RecipeRef
from .engine import EngineError, RawJSON, V8Engine
from .files import FileOps
from .gates import Gates
from .helpers import HELPER_TABLE, HelperContext, Services, suggest_helper
from .killer import Killer
from .netpolicy import NetPolicy
from .records import ExecutionRecord
from .shell import run_shell
from .store_redis import make_store

log = logging.getLogger("jibril_rules.reactions")

_UNDEFINED_RE = re.compile(r"ReferenceError: ([A-Za-z_$][\w$]*) is not defined")
_STACK_RE = re.compile(r"\(eval at run \(<anonymous>:\d+:\d+\), <anonymous>:(\d+):(\d+)\)")
_COUNTERS = ("executions", "ok", "error", "timeout", "memory", "rate_limited", "deduped",
             "overflow", "overflow_detections", "abandoned", "limits_clamped", "submitted",
             "engines_created", "engines_discarded", "helper_calls", "log_lines_cut")


def code_hash(code: str) -> str:
    return xxhash.xxh64_hexdigest(code.encode("utf-8", "surrogatepass"))


def _fix_stack(message: str) -> str:
    """Map positions inside the Function wrapper back to the reaction's own lines, and name
    the helper a ReferenceError most likely meant (`KillCurent` -> "did you mean KillCurrent?")."""
    message = _STACK_RE.sub(lambda m: f"(reaction:{int(m.group(1)) - 2}:{m.group(2)})", message)
    m = _UNDEFINED_RE.search(message)
    near = suggest_helper(m.group(1)) if m else None
    if m and near:
        message = message[: m.end()] + f" (unknown helper: did you mean {near}?)" + message[m.end():]
    return message


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class ReactionRuntime:
    """Runs reactions. `rehearse=True` (replay, test) pins every run to monitor mode:
    no `set_mode`, recipe mode or config can make it act on the host."""

    def __init__(self, cfg: ReactionConfig, *, rehearse: bool = False) -> None:
        self.cfg = cfg
        self.rehearse = rehearse
        try:
            os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
        except OSError as exc:  # the store below reports itself unavailable
            log.error("state dir %s: %s", cfg.state_dir, exc.strerror or exc)
        store = make_store(cfg)
        if store.unavailable:  # e.g. a read-only state dir: start anyway and say so
            log.error("reactions data store unavailable (%s): Data* helpers will fail with "
                      "that Errno; reactions still run", store.unavailable)
        self.services = Services(
            cfg=cfg,
            store=store,  # type: ignore[arg-type]  # RoutedStore: the DataStore interface
            files=FileOps(cfg.temp_root, cfg.effective_writable_roots),
            killer=Killer(cfg.min_pid, cfg.protected_pids, cfg.protected_names),
            net=NetPolicy(cfg.netpolicy, cfg.net_table, cfg.net_netns, cfg.net_allowlist),
        )
        self._mode = cfg.mode
        self._overrides: dict[str, str] = {}
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(_COUNTERS, 0)
        self._inflight = 0
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="reaction")
        self._engines: OrderedDict[tuple[str, str], list[V8Engine]] = OrderedDict()
        self._engine_count = 0
        self._max_engines = max(8, cfg.workers * 4)
        self._gates = Gates(cfg.dedup_window_s, cfg.rate_limit, cfg.rate_window_s)
        # Every execution is audited: by default to state_dir/audit.jsonl ("" turns it off).
        audit = os.path.join(cfg.state_dir, "audit.jsonl") if cfg.audit_path is None else cfg.audit_path
        self._audit = AuditLog(audit, cfg.max_audit_line_bytes) if audit else None
        self._overflow_logged = 0.0
        self._futures: set[Future[ExecutionRecord]] = set()
        self._running: set[V8Engine] = set()
        self._closed = False
        # observability hook (issue 11): called with every record, from the worker thread
        self.listeners: list[Callable[[ExecutionRecord], None]] = []

    # -- modes -----------------------------------------------------------------------
    def set_mode(self, mode: str, recipe_name: str | None = None) -> None:
        if mode not in ("monitor", "enforce"):
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            if recipe_name is None:
                self._mode = mode
            else:
                self._overrides[recipe_name] = mode

    def clear_mode(self, recipe_name: str) -> None:
        with self._lock:
            self._overrides.pop(recipe_name, None)

    def mode_for(self, recipe: RecipeRef) -> str:
        if self.rehearse:
            return "monitor"
        with self._lock:
            return self._overrides.get(recipe.name) or recipe.mode or self._mode

    # -- entry points ----------------------------------------------------------------
    def run_now(self, recipe: RecipeRef, reactions: Sequence[ReactionSpec],
                detection: dict[str, Any]) -> list[ExecutionRecord]:
        """Run every reaction of `recipe` in parallel and wait for all of them."""
        gate = self._gate(recipe, reactions, detection)
        if gate is not None:
            return gate
        if len(reactions) == 1:
            return [self._execute(recipe, reactions[0], detection)]
        futures = [self._pool.submit(self._execute, recipe, spec, detection)
                   for spec in reactions]
        return [f.result() for f in futures]

    def submit(self, recipe: RecipeRef, reactions: Sequence[ReactionSpec],
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
        for spec in reactions:
            fut = self._pool.submit(self._execute, recipe, spec, detection)
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

    def warm(self, recipe: RecipeRef, reactions: Sequence[ReactionSpec]) -> None:
        """Create and compile an isolate per JS reaction ahead of the first event."""
        for spec in reactions:
            if spec.format == "js":
                eng = self._acquire((recipe.name, code_hash(spec.code)), self._mem(recipe))
                self._release((recipe.name, code_hash(spec.code)), eng)

    # -- gates -----------------------------------------------------------------------
    def _gate(self, recipe: RecipeRef, reactions: Sequence[ReactionSpec],
              detection: dict[str, Any]) -> list[ExecutionRecord] | None:
        status = self._gates.check(recipe, detection)
        if status is not None:
            with self._lock:
                self._counters[status] += len(reactions)
        if status is None:
            return None
        records = [self._record(recipe, spec, detection, self.mode_for(recipe), _now_iso(), 0.0,
                                status, None, error=f"reaction {status}") for spec in reactions]
        for rec in records:
            self._write_audit(rec)
            self._notify(rec)
        return records

    # -- engines ---------------------------------------------------------------------
    def _mem(self, recipe: RecipeRef) -> int:
        return self._bounded(recipe.memory_mb or self.cfg.memory_mb, self.cfg.max_memory_mb)

    def _timeout_s(self, recipe: RecipeRef) -> float:
        return self._bounded(recipe.timeout_ms or self.cfg.timeout_ms, self.cfg.max_timeout_ms) / 1000.0

    def _bounded(self, value: int, cap: int) -> int:
        """A recipe's own limit, clamped to the configured maximum (and counted)."""
        value = max(1, int(value))
        if value > cap:
            with self._lock:
                self._counters["limits_clamped"] += 1
            return cap
        return value

    def _acquire(self, key: tuple[str, str], memory_mb: int) -> V8Engine:
        with self._lock:
            idle = self._engines.get(key)
            if idle:
                self._engines.move_to_end(key)
                eng = idle.pop()
                eng.set_memory_limit(memory_mb)
                return eng
        eng = V8Engine(HELPER_TABLE, memory_mb)
        with self._lock:
            self._counters["engines_created"] += 1
            self._engine_count += 1
        return eng

    def _release(self, key: tuple[str, str], eng: V8Engine) -> None:
        evicted: list[V8Engine] = []
        with self._lock:
            if self._closed:
                evicted.append(eng)
            else:
                self._engines.setdefault(key, []).append(eng)
                self._engines.move_to_end(key)
                while self._engine_count - len(evicted) > self._max_engines and self._engines:
                    old_key, engines = next(iter(self._engines.items()))
                    if engines:
                        evicted.append(engines.pop(0))
                    if not engines:
                        del self._engines[old_key]
        for old in evicted:
            self._discard(old)

    def _discard(self, eng: V8Engine) -> None:
        with self._lock:
            self._engine_count -= 1
            self._counters["engines_discarded"] += 1
        eng.close()

    # -- execution -------------------------------------------------------------------
    def _execute(self, recipe: RecipeRef, spec: ReactionSpec,
                 detection: dict[str, Any]) -> ExecutionRecord:
        mode = self.mode_for(recipe)
        start = _now_iso()
        t0 = time.perf_counter()
        try:
            if spec.format == "shell":
                rec = self._execute_shell(recipe, spec, detection, mode, start, t0)
            else:
                rec = self._execute_js(recipe, spec, detection, mode, start, t0)
        except Exception as exc:  # the runtime must keep working whatever happens
            log.exception("reaction %s[%d] failed internally", recipe.name, spec.index)
            rec = self._record(recipe, spec, detection, mode, start, t0, "error", None,
                               error=f"internal error: {exc}")
        if rec.status != "ok":
            log.warning("reaction %s[%d] event %s: %s: %s", recipe.name, spec.index,
                        rec.uuid, rec.status, (rec.error or "").splitlines()[0:1],
                        extra={"recipe": recipe.name, "event_uuid": rec.uuid,
                               "reaction_index": spec.index})
        self._write_audit(rec)
        self._notify(rec)
        return rec

    def _notify(self, rec: ExecutionRecord) -> None:
        for fn in self.listeners:
            try:
                fn(rec)
            except Exception:  # an observer must never break a reaction
                log.exception("reaction listener failed")

    def _execute_js(self, recipe: RecipeRef, spec: ReactionSpec, detection: dict[str, Any],
                    mode: str, start: str, t0: float) -> ExecutionRecord:
        h = code_hash(spec.code)
        key = (recipe.name, h)
        mem = self._mem(recipe)
        timeout_s = self._timeout_s(recipe)
        ctx = HelperContext(self.services, recipe.kind, recipe.name, detection, mode)
        ctx.index = spec.index
        ctx.deadline = time.monotonic() + timeout_s
        try:  # a bad event (NaN, too deep, ...) fails this execution only, before any isolate
            data = json.dumps(detection, allow_nan=False, separators=(",", ":"), default=str)
        except (ValueError, TypeError, RecursionError) as exc:
            return self._record(recipe, spec, detection, mode, start, t0, "error", ctx,
                                error=f"the event cannot be passed to the reaction: {exc}")
        eng = self._acquire(key, mem)
        head = json.dumps({"k": h, "src": None if h in eng.compiled else spec.code,
                           "kind": recipe.kind, "name": recipe.name,
                           "uuid": str(detection.get("uuid", ""))}, separators=(",", ":"))
        ctx.run_input = RawJSON(head[:-1] + ',"data":' + data + "}")
        keep = False
        with self._lock:
            self._running.add(eng)
        try:
            code, tainted, message = eng.run(ctx.bridge, timeout_s)
            if eng.last_compiled:
                eng.compiled.add(h)
            else:
                eng.compiled.discard(h)
            keep = not tainted
            if code == "O":
                return self._record(recipe, spec, detection, mode, start, t0, "ok", ctx)
            prefix = {"S": "syntax error: ", "N": ""}.get(code, "")
            status = "memory" if "RangeError: reaction memory limit" in message else "error"
            return self._record(recipe, spec, detection, mode, start, t0, status, ctx,
                                error=prefix + _fix_stack(message))
        except EngineError as exc:
            status = {"timeout": "timeout", "oom": "memory"}.get(exc.kind, "error")
            if status == "timeout":
                msg = f"execution exceeded {timeout_s * 1000:g} ms and was stopped"
            elif status == "memory":
                msg = f"execution exceeded {mem} MB and was stopped"
            else:
                msg = str(exc)
            return self._record(recipe, spec, detection, mode, start, t0, status, ctx, error=msg)
        finally:
            with self._lock:
                self._running.discard(eng)
            if keep:
                self._release(key, eng)
            else:
                self._discard(eng)

    def _execute_shell(self, recipe: RecipeRef, spec: ReactionSpec, detection: dict[str, Any],
                       mode: str, start: str, t0: float) -> ExecutionRecord:
        if mode == "monitor":
            # a shell script's effects cannot be intercepted: monitor mode records only
            return self._record(recipe, spec, detection, mode, start, t0, "ok", None,
                                logs=("dry run: shell reaction not executed in monitor mode",),
                                extra={"dry_run": True})
        timeout_s = self._timeout_s(recipe)
        res = run_shell(spec.code, detection, recipe.kind, recipe.name, timeout_s,
                        self.cfg.temp_root, self.cfg.shell_path)
        return self._record(recipe, spec, detection, mode, start, t0, res.status, None,
                            error=res.error, logs=res.logs,
                            extra={"returncode": res.returncode, "workdir": res.workdir})

    def _record(self, recipe: RecipeRef, spec: ReactionSpec, detection: dict[str, Any],
                mode: str, start: str, t0: float, status: str, ctx: HelperContext | None,
                error: str | None = None, logs: tuple[str, ...] = (),
                extra: dict[str, Any] | None = None) -> ExecutionRecord:
        duration = (time.perf_counter() - t0) * 1000.0 if t0 else 0.0
        calls = tuple(ctx.calls) if ctx else ()
        extra = dict(extra or {})
        if self.rehearse:
            extra["rehearsal"] = True
        if ctx is not None and ctx.dropped_calls:
            extra["dropped_calls"] = ctx.dropped_calls
        if ctx is not None and ctx.cut["log_lines"] + ctx.cut["log_chars"]:
            extra["logs_cut"] = dict(ctx.cut)  # what max_log_lines / max_log_bytes removed
            with self._lock:
                self._counters["log_lines_cut"] += ctx.cut["log_lines"]
        with self._lock:
            self._counters["executions"] += 1 if status not in ("rate_limited", "deduped") else 0
            if status in ("ok", "error", "timeout", "memory"):
                self._counters[status] += 1
            self._counters["helper_calls"] += len(calls)
        return ExecutionRecord(
            recipe=recipe.name, kind=recipe.kind, uuid=str(detection.get("uuid", "")),
            index=spec.index, format=spec.format, start=start, duration_ms=duration,
            mode=mode, status=status, calls=calls,
            logs=tuple(ctx.logs) + logs if ctx else logs, error=error, extra=extra)

    def _write_audit(self, rec: ExecutionRecord | dict[str, Any]) -> None:
        if self._audit is not None:
            self._audit.write(rec if isinstance(rec, dict) else rec.to_dict())

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
            self._write_audit({"event": "shutdown", "start": _now_iso(), "drain_s": budget,
                               "abandoned": abandoned, "terminated": terminated})
        if self._audit is not None:
            self._audit.close()

    def __enter__(self) -> ReactionRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
