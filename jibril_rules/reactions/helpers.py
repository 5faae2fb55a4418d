"""The helper API: Jibril's 30 helpers plus DataIncr, served to JS through the bridge.

This module is the bridge (op numbers, arguments, Errno, the call log) and the log
helpers; each other family is a mixin of its own module (helpers_process, helpers_net,
helpers_files, helpers_data) sharing `HelperState`.

Conventions (Jibril): 0 success, 1 no effect, -1 error with the message in Errno();
failed reads return "". In monitor mode the helpers with side effects outside the
reaction's own sandbox (kills, network, writes outside the temp root, removing a directory
no reaction created, PowerOff, Panic) act on nothing, return 0 and are recorded with
`dry_run: true`. The data store, CreateTempDir and writes under the temp root act in both
modes (they only touch the reaction's own state).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import re
import time
from typing import Any

from ..core.vocab import (  # noqa: F401 - re-exported
    EXTRA_HELPERS,
    HELPER_NAMES,
    HELPER_ORDER,
    JIBRIL_HELPERS,
    KILL_HELPERS,
    NETWORK_HELPERS,
)
from .datastore import StoreError, js_string
from .helper_state import HelperFailure, HelperState, Services  # noqa: F401 - re-exported
from .helpers_data import DataHelpers
from .helpers_files import FileHelpers
from .helpers_net import NetHelpers
from .helpers_process import ProcessHelpers
from .prelude import FIRST_HELPER_OP, OP_INPUT
from .records import HelperCall

log = logging.getLogger("jibril_rules.reactions")

# The helper names are vocabulary (core/vocab.py): lint and explain read them without V8.
HELPER_TABLE: list[tuple[str, int]] = [(n, FIRST_HELPER_OP + i) for i, n in enumerate(HELPER_ORDER)]
_OP_NAMES = {op: name for name, op in HELPER_TABLE}
MAX_RECORDED_CALLS = 2000
MAX_RECORDED_CHARS = 1024  # a string argument or result kept in the call record
CUT_MARKER = "…[cut {} chars]"
# Helpers that never change Errno(): the log helpers cannot fail, and Errno reads it.
# Every other helper clears it when it succeeds and sets it when it fails (Jibril's reaction
# tests log a result and then print Errno(): `Info("res " + r); if (r < 0) Error(Errno())`).
ERRNO_NEUTRAL: frozenset[str] = frozenset({"Info", "Warn", "Error", "Errno"})
_LEAD_WORD = re.compile(r"^[A-Z][a-z]+")


def suggest_helper(name: str) -> str | None:
    """The helper a misspelt or invented name most likely meant (KillCurent -> KillCurrent,
    KillPid -> a Kill* helper), or None when the name does not look like one."""
    if name in HELPER_NAMES:
        return None
    near = difflib.get_close_matches(name, HELPER_ORDER, n=1, cutoff=0.6)
    if near:
        return near[0]
    lead = _LEAD_WORD.match(name)
    if lead is None:
        return None
    family = [h for h in HELPER_ORDER if h.startswith(lead.group(0)) and h != lead.group(0)]
    if not family:
        return None
    return max(family, key=lambda h: difflib.SequenceMatcher(None, name, h).ratio())


class HelperContext(ProcessHelpers, NetHelpers, FileHelpers, DataHelpers, HelperState):
    """Per-execution helper state: the call log, Errno, and the run's input."""

    # -- bridge entry ----------------------------------------------------------------
    def bridge(self, op: int, text: str) -> Any:
        if op == OP_INPUT:
            return self.run_input
        name = _OP_NAMES.get(op)
        if name is None:
            return -1
        try:
            args = json.loads(text) if text else []
        except (ValueError, RecursionError) as exc:
            # e.g. a 100,000-deep array: the call fails with a clear Errno, the run goes on
            why = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
            self.errno = f"{name}: arguments {why}"
            self._record(HelperCall(name, ("<arguments not decodable>",), -1, self.errno))
            return -1
        if not isinstance(args, list):
            args = [args]
        return self.call(name, args)

    def call(self, name: str, args: list[Any]) -> Any:
        impl = self._impl.get(name)
        if impl is None:
            raise KeyError(name)
        neutral = name in ERRNO_NEUTRAL
        before = self.errno
        if not neutral:
            self.errno = ""
        self._dry = False
        try:
            if self.deadline is not None and not neutral and time.monotonic() > self.deadline:
                raise HelperFailure(f"{name}: the reaction's time limit has passed")
            bound = getattr(self.s.store, "bounded", None)  # SQLite: lock waits bounded too
            with bound(self.deadline) if bound is not None else contextlib.nullcontext():
                result = impl(args)
        except HelperFailure as exc:
            self.errno = str(exc)
            result = exc.result
        except StoreError as exc:  # disk full, read-only or unavailable store
            self.errno = f"{name}: {exc}"
            result = "" if name in ("DataGet", "DataPop") else -1
        except RecursionError:
            self.errno = f"{name}: arguments nested too deeply"
            result = -1
        except Exception as exc:  # a helper must never take the runtime down
            self.errno = f"{name}: internal error: {exc}"
            log.exception("helper %s failed", name)
            result = -1
        if neutral:
            self.errno = before
        if name != "Errno":
            self._record(HelperCall(name, tuple(_clip(a) for a in args), _clip(result),
                                    self.errno, self._dry))
        return result

    def _record(self, call: HelperCall) -> None:
        if len(self.calls) < MAX_RECORDED_CALLS:
            self.calls.append(call)
        else:
            self.dropped_calls += 1

    # -- logging ---------------------------------------------------------------------
    def _log(self, level: str, args: list[Any]) -> None:
        cfg = self.s.cfg
        msg = " ".join(js_string(a) for a in args)
        room = cfg.max_log_bytes - self.log_bytes
        if len(self.logs) >= cfg.max_log_lines or room <= 0:
            self.cut["log_lines"] += 1
            self.cut["log_chars"] += len(msg)
            return
        if len(msg) > room:
            self.cut["log_chars"] += len(msg) - room
            msg = msg[:room] + CUT_MARKER.format(len(msg) - room)
        self.log_bytes += len(msg)
        self.logs.append(f"{level}: {msg}")
        if self.s.cfg.log_to_python:
            lvl = {"INFO": logging.INFO, "WARN": logging.WARNING}.get(level, logging.ERROR)
            log.log(lvl, "[%s] %s", self.name, msg, extra={
                "recipe": self.name, "event_uuid": str(self.data.get("uuid", "")),
                "reaction_index": self.index})

    def h_Info(self, args: list[Any]) -> Any:
        self._log("INFO", args)

    def h_Warn(self, args: list[Any]) -> Any:
        self._log("WARN", args)

    def h_Error(self, args: list[Any]) -> Any:
        self._log("ERROR", args)

    def h_Errno(self, args: list[Any]) -> Any:
        return self.errno


def _clip(value: Any) -> Any:
    """A call argument or result as recorded: long strings cut, with a marker."""
    if isinstance(value, str) and len(value) > MAX_RECORDED_CHARS:
        return value[:MAX_RECORDED_CHARS] + CUT_MARKER.format(len(value) - MAX_RECORDED_CHARS)
    if isinstance(value, list | dict) and len(json.dumps(value, default=str)) > MAX_RECORDED_CHARS:
        return _clip(json.dumps(value, default=str))
    return value
