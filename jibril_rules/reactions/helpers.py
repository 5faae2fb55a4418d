"""The helper API: Jibril's 30 helpers plus DataIncr, served to JS through the bridge.

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
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.vocab import (  # noqa: F401 - re-exported
    EXTRA_HELPERS,
    HELPER_NAMES,
    HELPER_ORDER,
    JIBRIL_HELPERS,
    KILL_HELPERS,
    NETWORK_HELPERS,
)
from .config import ReactionConfig
from .datastore import DataStore, StoreError, js_number, js_string
from .eventinfo import event_domain_addresses, event_remote_domains, event_remote_ips
from .files import FileError, FileOps
from .killer import Killer, KillRefused
from .netpolicy import MAX_TARGETS_PER_CALL, NetError, NetPolicy, resolve
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


class HelperFailure(Exception):
    """Raised inside a helper: the helper returns `result` and Errno() is the message."""

    def __init__(self, message: str, result: Any = -1) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class Services:
    """Long-lived services shared by every execution."""

    cfg: ReactionConfig
    store: DataStore
    files: FileOps
    killer: Killer
    net: NetPolicy


class HelperContext:
    """Per-execution helper state: the call log, Errno, and the run's input."""

    def __init__(self, services: Services, recipe_kind: str, recipe_name: str,
                 detection: dict[str, Any], mode: str, run_input: Any = None,
                 ) -> None:
        self.s = services
        self.kind = recipe_kind
        self.name = recipe_name
        self.data = detection
        self.mode = mode
        self.run_input = run_input
        self.calls: list[HelperCall] = []
        self.dropped_calls = 0
        self.logs: list[str] = []
        self.log_bytes = 0
        self.cut = {"log_lines": 0, "log_chars": 0}  # what the size caps removed
        self.errno = ""
        self.index = 0  # the reaction's index in its recipe (for log records)
        self._dry = False
        # monotonic time after which every helper fails at once: a helper cannot be
        # interrupted by V8's TerminateExecution, so none may start past the deadline
        self.deadline: float | None = None
        self._impl: dict[str, Callable[[list[Any]], Any]] = {
            n: getattr(self, "h_" + n) for n in HELPER_ORDER}

    @property
    def monitor(self) -> bool:
        return self.mode == "monitor"

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

    # -- processes -------------------------------------------------------------------
    def _kill(self, pid: Any) -> int:
        try:
            pid_int = int(pid)
        except (TypeError, ValueError):
            raise HelperFailure(f"invalid pid {pid!r}") from None
        if pid_int != pid and not isinstance(pid, str):
            raise HelperFailure(f"invalid pid {pid!r}")
        try:
            result = self.s.killer.kill(pid_int, dry_run=self.monitor)
        except KillRefused as exc:
            raise HelperFailure(str(exc)) from None
        if result == 1:
            self.errno = f"pid {pid_int}: no such process (already gone)"
        self._dry = self.monitor and result == 0
        return result

    def _event_pid(self, field: str) -> Any:
        proc = self.data.get("process")
        pid = proc.get(field) if isinstance(proc, dict) else None
        if pid in (None, ""):
            raise HelperFailure(f"the event has no process.{field}")
        return pid

    def h_KillCurrent(self, args: list[Any]) -> Any:
        kp = self.data.get("kernel_prevent")
        if isinstance(kp, dict) and kp.get("enforced") and not self.monitor:
            self.errno = "already killed in the kernel at exec (prevent: kill)"
            return 1  # like a process that is already gone
        return self._kill(self._event_pid("pid"))

    def h_KillParent(self, args: list[Any]) -> Any:
        return self._kill(self._event_pid("ppid"))

    def h_KillProcess(self, args: list[Any]) -> Any:
        if not args:
            raise HelperFailure("KillProcess needs a pid")
        return self._kill(args[0])

    # -- network ---------------------------------------------------------------------
    def _net_ready(self) -> None:
        reason = self.s.net.unavailable_reason()
        if reason:
            raise HelperFailure(reason)

    def _block_many(self, targets: list[str], timeout_s: int | None = None) -> int:
        results: list[int] = []
        errors: list[str] = []
        if len(targets) > MAX_TARGETS_PER_CALL:
            errors.append(f"{len(targets)} addresses: only the first {MAX_TARGETS_PER_CALL} "
                          "are blocked in one call")
            targets = targets[:MAX_TARGETS_PER_CALL]
        for ip in targets:
            try:
                self.s.net.check_target(ip)
                self.s.net.charge()
                if self.monitor:
                    results.append(0)
                else:
                    results.append(self.s.net.block(ip, timeout_s))
            except NetError as exc:
                errors.append(str(exc))
        self._dry = self.monitor and 0 in results
        if errors:
            raise HelperFailure("; ".join(errors))
        return 0 if 0 in results else 1

    def h_NetBlockIp(self, args: list[Any]) -> Any:
        self._net_ready()
        targets = [js_string(args[0])] if args and args[0] not in (None, "") else \
            event_remote_ips(self.data)
        if not targets:
            raise HelperFailure("the event has no remote address to block", 1)
        return self._block_many(targets)

    def h_NetBlockIpTimer(self, args: list[Any]) -> Any:
        self._net_ready()
        if len(args) < 2:
            raise HelperFailure("NetBlockIpTimer needs an ip and a duration in seconds")
        try:
            secs = int(float(args[1]))
        except (TypeError, ValueError):
            raise HelperFailure(f"invalid duration {args[1]!r}") from None
        if secs <= 0:
            raise HelperFailure("the duration must be positive")
        return self._block_many([js_string(args[0])], secs)

    def h_NetUnblockIp(self, args: list[Any]) -> Any:
        self._net_ready()
        if not args:
            raise HelperFailure("NetUnblockIp needs an ip")
        try:
            if self.monitor:
                self._dry = True
                return 0
            return self.s.net.unblock(js_string(args[0]))
        except NetError as exc:
            raise HelperFailure(str(exc)) from None

    def h_NetBlockDomain(self, args: list[Any]) -> Any:
        self._net_ready()
        domains = [js_string(args[0])] if args and args[0] not in (None, "") else \
            event_remote_domains(self.data)
        if not domains:
            raise HelperFailure("the event has no remote domain to block", 1)
        addrs: list[str] = []
        errors: list[str] = []
        for domain in domains:
            if not self.monitor:
                self.s.net.block_domain(domain)  # addresses it resolves to later, too
            # the addresses the event saw under the name (what Jibril's DNS tracking blocks),
            # then what it resolves to now
            addrs.extend(a for a in event_domain_addresses(self.data, domain) if a not in addrs)
            try:
                addrs.extend(a for a in resolve(domain) if a not in addrs)
            except NetError as exc:
                errors.append(str(exc))
        if not addrs:
            if self.monitor:
                self._dry = True
                return 0
            if errors and not self.s.net.domains:
                raise HelperFailure("; ".join(errors))
            self.errno = "; ".join(errors)
            return 0  # nothing resolves now: blocked as soon as an answer names an address
        return self._block_many(addrs)

    # -- files -----------------------------------------------------------------------
    def h_ReadFile(self, args: list[Any]) -> Any:
        try:
            return self.s.files.read(js_string(args[0]) if args else "")
        except FileError as exc:
            raise HelperFailure(str(exc), "") from None

    def h_WriteFile(self, args: list[Any]) -> Any:
        if len(args) < 2:
            raise HelperFailure("WriteFile needs a path and content")
        path, content = js_string(args[0]), js_string(args[1])
        try:
            self.s.files.check_writable(path)
            if self.monitor and not self.s.files.in_temp(path):
                self._dry = True
                return 0
            # monitor mode writes only beneath the temp root (resolved by fd, not by name)
            self.s.files.write(path, content, temp_only=self.monitor)
        except FileError as exc:
            raise HelperFailure(str(exc)) from None
        return 0

    def h_Stat(self, args: list[Any]) -> Any:
        info = self.s.files.stat(js_string(args[0]) if args else "")
        if info is None:
            self.errno = f"Stat {args[0] if args else ''}: no such file or not accessible"
        return info

    def h_CreateTempDir(self, args: list[Any]) -> Any:
        pattern = js_string(args[0]) if args and args[0] is not None else ""
        try:
            return self.s.files.create_temp_dir(pattern)
        except FileError as exc:
            raise HelperFailure(str(exc), "") from None

    def h_RemoveDir(self, args: list[Any]) -> Any:
        path = js_string(args[0]) if args else ""
        try:
            real = self.s.files.check_removable(path)
            if self.monitor and real not in self.s.files.created_dirs:
                self._dry = True
                return 0
            return 0 if self.s.files.remove_dir(real, self.deadline) else 1
        except FileError as exc:
            raise HelperFailure(str(exc)) from None

    # -- data store --------------------------------------------------------------------
    def _key(self, args: list[Any], what: str) -> str:
        if not args or args[0] is None:
            raise HelperFailure(f"{what} needs a key", -1)
        return js_string(args[0])

    def _value(self, what: str, value: Any) -> str:
        text = js_string(value)
        cap = self.s.cfg.max_value_bytes
        if len(text) > cap or len(text.encode("utf-8", "surrogatepass")) > cap:
            raise HelperFailure(f"{what}: the value is larger than max_value_bytes ({cap} bytes)")
        return text

    def h_DataSet(self, args: list[Any]) -> Any:
        key = self._key(args, "DataSet")
        value = self._value("DataSet", args[1]) if len(args) > 1 else "undefined"
        self.s.store.set(self.name, self._value("DataSet", key), value)
        return 0

    def h_DataGet(self, args: list[Any]) -> Any:
        if not args:
            raise HelperFailure("DataGet needs a key", "")
        value = self.s.store.get(self.name, js_string(args[0]))
        return "" if value is None else value

    def h_DataDelete(self, args: list[Any]) -> Any:
        key = self._key(args, "DataDelete")
        return 0 if self.s.store.delete(self.name, key) else 1

    def h_DataClear(self, args: list[Any]) -> Any:
        self.s.store.clear(self.name)
        return 0

    def h_DataPush(self, args: list[Any]) -> Any:
        if not args:
            raise HelperFailure("DataPush needs a value")
        key = self._value("DataPush", args[0]) if len(args) >= 2 else ""
        value = self._value("DataPush", args[1] if len(args) >= 2 else args[0])
        cap = self.s.cfg.max_list_items
        if self.s.store.list_len(self.name, key) >= cap:
            raise HelperFailure(f"DataPush: the list is full (max_list_items {cap})")
        self.s.store.push(self.name, key, value)
        return 0

    def h_DataPop(self, args: list[Any]) -> Any:
        key = js_string(args[0]) if args and args[0] is not None else ""
        value = self.s.store.pop(self.name, key)
        return "" if value is None else value

    def h_DataKeys(self, args: list[Any]) -> Any:
        return json.dumps(self.s.store.keys(self._ns(args)), separators=(",", ":"))

    def h_DataValues(self, args: list[Any]) -> Any:
        return json.dumps(self.s.store.values(self._ns(args)), separators=(",", ":"))

    def h_DataSize(self, args: list[Any]) -> Any:
        return self.s.store.size(self._ns(args))

    def h_DataIsEmpty(self, args: list[Any]) -> Any:
        return self.s.store.size(self._ns(args)) == 0

    def h_DataHasKey(self, args: list[Any]) -> Any:
        return bool(args) and self.s.store.has_key(self.name, js_string(args[0]))

    def h_DataHasValue(self, args: list[Any]) -> Any:
        return bool(args) and self.s.store.has_value(self.name, js_string(args[0]))

    def h_DataIncr(self, args: list[Any]) -> Any:
        key = self._key(args, "DataIncr")
        delta = 1.0
        if len(args) > 1 and args[1] is not None:
            try:
                delta = float(args[1])
            except (TypeError, ValueError):
                raise HelperFailure(f"invalid delta {args[1]!r}") from None
        new = self.s.store.incr(self.name, key, delta)
        return int(new) if js_number(new).lstrip("-").isdigit() else new

    def _ns(self, args: list[Any]) -> str:
        """DataKeys("shared:") etc. address the shared namespace; default the recipe's."""
        if args and js_string(args[0]) == "shared:":
            return self.s.store.shared_namespace
        return self.name

    # -- emergency -------------------------------------------------------------------
    def _emergency(self, what: str, allowed: bool) -> int:
        if not allowed:
            self._dry = True
            raise HelperFailure(f"{what} is disabled by configuration (allow_{what.lower()})")
        if self.monitor:
            self._dry = True
            return 0
        return _really(what)

    def h_PowerOff(self, args: list[Any]) -> Any:
        return self._emergency("PowerOff", self.s.cfg.allow_poweroff)

    def h_Panic(self, args: list[Any]) -> Any:
        return self._emergency("Panic", self.s.cfg.allow_panic)


def _clip(value: Any) -> Any:
    """A call argument or result as recorded: long strings cut, with a marker."""
    if isinstance(value, str) and len(value) > MAX_RECORDED_CHARS:
        return value[:MAX_RECORDED_CHARS] + CUT_MARKER.format(len(value) - MAX_RECORDED_CHARS)
    if isinstance(value, list | dict) and len(json.dumps(value, default=str)) > MAX_RECORDED_CHARS:
        return _clip(json.dumps(value, default=str))
    return value


def _really(what: str) -> int:  # pragma: no cover - never exercised: it stops the machine
    if "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("JIBRIL_RULES_NO_EMERGENCY"):
        raise HelperFailure(f"{what} refused: running under a test harness")
    os.sync()
    if what == "Panic":
        with open("/proc/sysrq-trigger", "w", encoding="ascii") as fh:
            fh.write("c")
        return 0
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.reboot(0x4321FEDC) != 0:  # LINUX_REBOOT_CMD_POWER_OFF
        raise HelperFailure(f"PowerOff failed: errno {ctypes.get_errno()}")
    return 0
