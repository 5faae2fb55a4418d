"""A V8 isolate driven through mini-racer's C API, with a synchronous helper bridge.

mini-racer 0.14 exposes its Python callbacks as async JS functions (a Promise per call),
which cannot serve Jibril's synchronous helpers. Its C layer, however, has
`mr_make_js_callback`: a JS function that invokes the context's C callback *synchronously
on the isolate thread*. We register our own C callback per isolate; a call from JS writes
the request into a SharedArrayBuffer (whose backing store Python sees as a memoryview),
calls the native function, Python serves the helper inside the callback and writes the
response back, and JS reads it when the call returns. No thread hop, no polling:
about 10 µs per helper call (docs/reactions.md has the measurements).

Only primitive values cross the V8 value API (the runner's status string), so none of the
mini-racer object machinery (which would deadlock if used from inside the callback) runs.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import queue
import threading
from collections.abc import Callable
from typing import Any

from py_mini_racer._dll import MR_CALLBACK, init_mini_racer

from . import v8mem
from .prelude import (
    HEADER_BYTES,
    OP_NEXT,
    PRELUDE,
    RT_BOOL,
    RT_JSON,
    RT_NULL,
    RT_NUMBER,
    RT_STRING,
    RT_UNDEFINED,
)

# mini_racer.cc value types
_T_NULL, _T_BOOL, _T_INT, _T_DOUBLE, _T_STR = 1, 2, 3, 4, 5
_T_ARRAY, _T_UNDEF, _T_FUNCTION, _T_SAB = 6, 11, 100, 101
_T_EXEC_EXC, _T_PARSE_EXC, _T_OOM_EXC, _T_TIMEOUT_EXC, _T_TERMINATED_EXC = 200, 201, 202, 203, 204
BRIDGE_ID = 1
_MIB = 1024 * 1024
CAPACITY_UNITS = 32768  # 64 KiB of UTF-16 payload per bridge round trip

# Bridge handler: (op, request JSON text) -> python value to return to JS
BridgeHandler = Callable[[int, str], Any]


class EngineError(Exception):
    """A JavaScript-level failure; `kind` is exec, parse, oom, timeout or terminated."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_EXC_KINDS = {
    _T_EXEC_EXC: "exec",
    _T_PARSE_EXC: "parse",
    _T_OOM_EXC: "oom",
    _T_TIMEOUT_EXC: "timeout",
    _T_TERMINATED_EXC: "terminated",
}

_dll_lock = threading.Lock()
_dll_handle: Any = None
# Creating isolates concurrently is not safe in this V8 build: the first isolate (and its
# array-buffer allocator) initialises a process-wide PartitionAlloc pool without a lock,
# and two threads inside `mr_init_context` at once abort with
# "Check failed: !IsConfigurablePoolInitialized()" (SIGTRAP, exit 133/139). mini-racer's
# own Python code creates contexts one at a time, which hides it. We serialise every
# context creation and disposal behind one lock, and create (and free) a first context
# while initialising the library, before any worker thread can race.
_create_lock = threading.RLock()  # re-entrant: __del__ may run inside the block


def _dll() -> Any:
    global _dll_handle
    with _dll_lock:
        if _dll_handle is None:
            handle = init_mini_racer(ignore_duplicate_init=True)
            with _create_lock:
                handle.mr_free_context(handle.mr_init_context(_PRIME_CB))
            _dll_handle = handle
        return _dll_handle


def _ignore_callback(callback_id: int, raw: Any) -> None:
    """Callback of the priming context (it never runs code)."""


_PRIME_CB = MR_CALLBACK(_ignore_callback)


class RawJSON(str):
    """Text that is already JSON: sent as is (the run input is encoded once, checked)."""


def _encode_response(value: Any) -> tuple[int, float, str]:
    """(response type, number slot, text payload) for a Python helper result."""
    if isinstance(value, RawJSON):
        return RT_JSON, 0.0, str(value)
    if value is None:
        return RT_NULL, 0.0, ""
    if value is _UNDEFINED:
        return RT_UNDEFINED, 0.0, ""
    if isinstance(value, bool):
        return RT_BOOL, 1.0 if value else 0.0, ""
    if isinstance(value, int | float):
        return RT_NUMBER, float(value), ""
    if isinstance(value, str):
        return RT_STRING, 0.0, value
    return RT_JSON, 0.0, json.dumps(value, separators=(",", ":"), default=str)


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


_UNDEFINED = _Undefined()
UNDEFINED: Any = _UNDEFINED


class V8Engine:
    """One isolate + context, locked down, with helper globals and a runner.

    Not thread-safe: one run at a time (the pool in runtime.py guarantees it).
    """

    def __init__(self, helper_table: list[tuple[str, int]], memory_mb: int) -> None:
        self._dll = _dll()
        self._results: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._ids = itertools.count(BRIDGE_ID + 1)
        self._cb = MR_CALLBACK(self._on_callback)
        with _create_lock:
            self._ctx = self._dll.mr_init_context(self._cb)
        if not self._ctx:
            raise EngineError("exec", "V8 could not create a context")
        self._closed = False
        self._task: int | None = None
        self.handler: BridgeHandler | None = None
        self._req_parts: list[str] = []
        self._pending_resp = ""
        self.compiled: set[str] = set()
        self.memory_mb = memory_mb
        self.runs = 0
        self._budget: v8mem.Budget | None = None
        self.last_compiled = False  # did the last run leave the reaction's factory cached?
        self._hooked = False
        self._dll.mr_set_hard_memory_limit(self._ctx, memory_mb * 1024 * 1024)
        self._sab_view: memoryview | None = None
        table = json.dumps(helper_table)
        factory = self._eval_raw(f"({PRELUDE})({CAPACITY_UNITS}, {table})")
        try:
            bridge = self._dll.mr_make_js_callback(self._ctx, BRIDGE_ID)
            argv = self._eval_raw("[]")
            self._dll.mr_free_value(self._ctx, self._dll.mr_array_push(self._ctx, argv, bridge))
            pair = self._call_raw(factory, argv)
            self._runner = self._item(pair, 0)
            sab = self._item(pair, 1)
            c = sab.contents
            if c.type != _T_SAB:
                raise EngineError("exec", "prelude did not return its shared buffer")
            buf = (ctypes.c_ubyte * c.len).from_address(c.value.value_ptr)
            self._sab_view = memoryview(buf).cast("B")
            self._hdr = self._sab_view[:32].cast("i")
            self._num = self._sab_view[32:40].cast("d")
            self._keep = (factory, bridge, argv, pair, sab)
            self._empty_argv = self._eval_raw("[]")
        except BaseException:
            self.close()
            raise

    # -- low level -------------------------------------------------------------------
    def _on_callback(self, callback_id: int, raw: Any) -> None:
        if callback_id == BRIDGE_ID:
            try:
                self._serve_bridge()
            except BaseException as exc:  # never let an exception cross into C
                self._write_response(-1)
                self._last_bridge_error = exc
            finally:
                self._dll.mr_free_value(self._ctx, raw)
            return
        self._results.put((callback_id, raw))

    def _wait(self, cid: int, task_id: int, timeout: float | None) -> Any:
        while True:
            try:
                got_id, raw = self._results.get(timeout=timeout)
            except queue.Empty:
                self._dll.mr_cancel_task(self._ctx, task_id)
                timeout = None
                self.timed_out = True
                continue
            if got_id == cid:
                return raw
            self._dll.mr_free_value(self._ctx, raw)

    def terminate(self) -> bool:
        """Stop the JavaScript running now (from another thread); False if none runs."""
        task = self._task
        if task is None or self._closed:
            return False
        self._dll.mr_cancel_task(self._ctx, task)
        return True

    def _eval_raw(self, code: str, timeout: float | None = None) -> Any:
        data = code.encode("utf-8")
        handle = self._dll.mr_alloc_string_val(self._ctx, data, len(data), _T_STR)
        cid = next(self._ids)
        task = self._dll.mr_eval(self._ctx, handle, cid)
        raw = self._wait(cid, task, timeout)
        self._dll.mr_free_value(self._ctx, handle)
        self._raise_if_error(raw)
        return raw

    def _call_raw(self, func: Any, argv: Any, timeout: float | None = None) -> Any:
        undef = self._dll.mr_alloc_int_val(self._ctx, 0, _T_UNDEF)
        cid = next(self._ids)
        task = self._dll.mr_call_function(self._ctx, func, undef, argv, cid)
        self._task = task
        try:
            raw = self._wait(cid, task, timeout)
        finally:
            self._task = None
        self._dll.mr_free_value(self._ctx, undef)
        self._raise_if_error(raw)
        return raw

    def _item(self, arr: Any, index: int) -> Any:
        key = self._dll.mr_alloc_int_val(self._ctx, index, _T_INT)
        raw = self._dll.mr_get_object_item(self._ctx, arr, key)
        self._dll.mr_free_value(self._ctx, key)
        self._raise_if_error(raw)
        return raw

    def _raise_if_error(self, raw: Any) -> None:
        c = raw.contents
        kind = _EXC_KINDS.get(c.type)
        if kind is not None:
            msg = c.value.bytes_val[0 : c.len].decode("utf-8", "replace")
            self._dll.mr_free_value(self._ctx, raw)
            raise EngineError(kind, msg or kind)

    def _to_str(self, raw: Any) -> str:
        c = raw.contents
        try:
            if c.type != _T_STR:
                return ""
            return str(c.value.bytes_val[0 : c.len].decode("utf-8", "replace"))
        finally:
            self._dll.mr_free_value(self._ctx, raw)

    # -- bridge ----------------------------------------------------------------------
    def _serve_bridge(self) -> None:
        view = self._sab_view
        assert view is not None
        hdr = self._hdr
        op, n, more = hdr[0], hdr[1], hdr[2]
        if not self._hooked:  # first callback, on the isolate's own thread
            self._hooked = True
            self._budget = v8mem.hook_current_isolate(self._dll._name, self.memory_mb * _MIB)
        if op == OP_NEXT and n == 0 and not self._req_parts:
            self._write_text(self._pending_resp, RT_STRING if hdr[3] == RT_STRING else RT_JSON)
            return
        self._req_parts.append(bytes(view[HEADER_BYTES : HEADER_BYTES + 2 * n]).decode(
            "utf-16-le", "surrogatepass"))
        if more:
            hdr[3] = RT_UNDEFINED
            return
        text = "".join(self._req_parts)
        self._req_parts = []
        handler = self.handler
        value = handler(op, text) if handler is not None else -1
        rtype, number, payload = _encode_response(value)
        hdr[3] = rtype
        self._num[0] = number
        if rtype in (RT_STRING, RT_JSON):
            self._write_text(payload, rtype)
        else:
            hdr[4] = 0
            hdr[5] = 0

    def _write_text(self, text: str, rtype: int) -> None:
        view = self._sab_view
        assert view is not None
        chunk, rest = text[:CAPACITY_UNITS], text[CAPACITY_UNITS:]
        data = chunk.encode("utf-16-le", "surrogatepass")
        units = len(data) // 2
        if units > CAPACITY_UNITS:  # astral characters: fall back to a safe split
            chunk, rest = text[: CAPACITY_UNITS // 2], text[CAPACITY_UNITS // 2 :]
            data = chunk.encode("utf-16-le", "surrogatepass")
            units = len(data) // 2
        view[HEADER_BYTES : HEADER_BYTES + len(data)] = data
        self._pending_resp = rest
        hdr = self._hdr
        hdr[3] = rtype
        hdr[4] = units
        hdr[5] = 1 if rest else 0

    def _write_response(self, number: float) -> None:
        self._hdr[3] = RT_NUMBER
        self._num[0] = number
        self._hdr[4] = 0
        self._hdr[5] = 0

    # -- public ----------------------------------------------------------------------
    def run(self, handler: BridgeHandler, timeout_s: float) -> tuple[str, bool, str]:
        """Run the reaction the handler's OP_INPUT describes.

        Returns (status, tainted, message) with status O ok, E exception, N no process
        function, S syntax error; raises EngineError for timeout/oom/termination.
        """
        self.handler = handler
        self.timed_out = False
        self.runs += 1
        if self._budget is not None:
            self._budget.reset()
        try:
            raw = self._call_raw(self._runner, self._empty_argv, timeout=timeout_s)
        except EngineError as exc:
            if self.timed_out and exc.kind in ("terminated", "timeout"):
                raise EngineError("timeout", "execution exceeded its time limit") from None
            if exc.kind == "oom" or self.hard_memory_limit_reached() or self.buffers_refused():
                raise EngineError("oom", "execution exceeded its memory limit") from None
            raise
        finally:
            self.handler = None
        out = self._to_str(raw)
        if self.buffers_refused():  # even if the code caught the RangeError
            raise EngineError("oom", "execution exceeded its memory limit (array buffers)")
        status, flags, message = out.split("|", 2)
        self.last_compiled = flags[1:2] == "1"
        return status, flags[:1] == "1", message

    def eval_text(self, code: str, timeout_s: float | None = None) -> str:
        """Evaluate code and return its result as a string ('' if not a string)."""
        return self._to_str(self._eval_raw(code, timeout_s))

    def buffers_refused(self) -> bool:
        """True if V8's array-buffer allocator refused memory during the last run."""
        return self._budget is not None and self._budget.failed

    def hard_memory_limit_reached(self) -> bool:
        return bool(self._dll.mr_hard_memory_limit_reached(self._ctx))

    def set_memory_limit(self, memory_mb: int) -> None:
        if memory_mb != self.memory_mb:
            self.memory_mb = memory_mb
            self._dll.mr_set_hard_memory_limit(self._ctx, memory_mb * _MIB)
            if self._budget is not None:
                self._budget.limit = memory_mb * _MIB

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sab_view = None
        v8mem.forget(self._budget)
        with _create_lock:
            self._dll.mr_free_context(self._ctx)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
