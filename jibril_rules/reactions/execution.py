"""Execution side of the reactions runtime: modes, the V8 engine cache, running one
reaction (JS or shell), its ExecutionRecord and the audit trail. runtime.py adds the
pool, the queue, the gates and shutdown on top."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import xxhash

from ..core.reaction import Reaction
from ..core.vocab import MODES
from .audit import AuditLog
from .config import ReactionConfig, RecipeRef
from .engine import EngineError, RawJSON, V8Engine
from .files import FileOps
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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Executor:
    """Runs one reaction (on whichever thread calls `_execute`) and records it; the state
    shared by every execution (services, modes, engines, counters, audit) lives here."""

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
        self._engines: OrderedDict[tuple[str, str], list[V8Engine]] = OrderedDict()
        self._engine_count = 0
        self._max_engines = max(8, cfg.workers * 4)
        # Every execution is audited: by default to state_dir/audit.jsonl ("" turns it off).
        audit = os.path.join(cfg.state_dir, "audit.jsonl") if cfg.audit_path is None else cfg.audit_path
        self._audit = AuditLog(audit, cfg.max_audit_line_bytes) if audit else None
        self._running: set[V8Engine] = set()
        self._closed = False
        # observability hook (issue 11): called with every record, from the worker thread
        self.listeners: list[Callable[[ExecutionRecord], None]] = []

    # -- modes -----------------------------------------------------------------------
    def set_mode(self, mode: str, recipe_name: str | None = None) -> None:
        if mode not in MODES:
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
    def _execute(self, recipe: RecipeRef, index: int, spec: Reaction,
                 detection: dict[str, Any]) -> ExecutionRecord:
        mode = self.mode_for(recipe)
        start = now_iso()
        t0 = time.perf_counter()
        try:
            if spec.format == "shell":
                rec = self._execute_shell(recipe, index, spec, detection, mode, start, t0)
            else:
                rec = self._execute_js(recipe, index, spec, detection, mode, start, t0)
        except Exception as exc:  # the runtime must keep working whatever happens
            log.exception("reaction %s[%d] failed internally", recipe.name, index)
            rec = self._record(recipe, index, spec, detection, mode, start, t0, "error", None,
                               error=f"internal error: {exc}")
        if rec.status != "ok":
            log.warning("reaction %s[%d] event %s: %s: %s", recipe.name, index,
                        rec.uuid, rec.status, (rec.error or "").splitlines()[0:1],
                        extra={"recipe": recipe.name, "event_uuid": rec.uuid,
                               "reaction_index": index})
        self._write_audit(rec)
        self._notify(rec)
        return rec

    def _notify(self, rec: ExecutionRecord) -> None:
        for fn in self.listeners:
            try:
                fn(rec)
            except Exception:  # an observer must never break a reaction
                log.exception("reaction listener failed")

    def _execute_js(self, recipe: RecipeRef, index: int, spec: Reaction, detection: dict[str, Any],
                    mode: str, start: str, t0: float) -> ExecutionRecord:
        h = code_hash(spec.code)
        key = (recipe.name, h)
        mem = self._mem(recipe)
        timeout_s = self._timeout_s(recipe)
        ctx = HelperContext(self.services, recipe.kind, recipe.name, detection, mode)
        ctx.index = index
        ctx.deadline = time.monotonic() + timeout_s
        try:  # a bad event (NaN, too deep, ...) fails this execution only, before any isolate
            data = json.dumps(detection, allow_nan=False, separators=(",", ":"), default=str)
        except (ValueError, TypeError, RecursionError) as exc:
            return self._record(recipe, index, spec, detection, mode, start, t0, "error", ctx,
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
                return self._record(recipe, index, spec, detection, mode, start, t0, "ok", ctx)
            prefix = {"S": "syntax error: ", "N": ""}.get(code, "")
            status = "memory" if "RangeError: reaction memory limit" in message else "error"
            return self._record(recipe, index, spec, detection, mode, start, t0, status, ctx,
                                error=prefix + _fix_stack(message))
        except EngineError as exc:
            status = {"timeout": "timeout", "oom": "memory"}.get(exc.kind, "error")
            if status == "timeout":
                msg = f"execution exceeded {timeout_s * 1000:g} ms and was stopped"
            elif status == "memory":
                msg = f"execution exceeded {mem} MB and was stopped"
            else:
                msg = str(exc)
            return self._record(recipe, index, spec, detection, mode, start, t0, status, ctx, error=msg)
        finally:
            with self._lock:
                self._running.discard(eng)
            if keep:
                self._release(key, eng)
            else:
                self._discard(eng)

    def _execute_shell(self, recipe: RecipeRef, index: int, spec: Reaction, detection: dict[str, Any],
                       mode: str, start: str, t0: float) -> ExecutionRecord:
        if mode == "monitor":
            # a shell script's effects cannot be intercepted: monitor mode records only
            return self._record(recipe, index, spec, detection, mode, start, t0, "ok", None,
                                logs=("dry run: shell reaction not executed in monitor mode",),
                                extra={"dry_run": True})
        timeout_s = self._timeout_s(recipe)
        res = run_shell(spec.code, detection, recipe.kind, recipe.name, timeout_s,
                        self.cfg.temp_root, self.cfg.shell_path)
        return self._record(recipe, index, spec, detection, mode, start, t0, res.status, None,
                            error=res.error, logs=res.logs,
                            extra={"returncode": res.returncode, "workdir": res.workdir})

    def _record(self, recipe: RecipeRef, index: int, spec: Reaction, detection: dict[str, Any],
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
            index=index, format=spec.format, start=start, duration_ms=duration,
            mode=mode, status=status, calls=calls,
            logs=tuple(ctx.logs) + logs if ctx else logs, error=error, extra=extra)

    def _write_audit(self, rec: ExecutionRecord | dict[str, Any]) -> None:
        if self._audit is not None:
            self._audit.write(rec if isinstance(rec, dict) else rec.to_dict())
