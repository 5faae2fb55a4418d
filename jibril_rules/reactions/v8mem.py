"""The array-buffer allocator limit: every isolate's ArrayBuffer memory is capped by V8's
own allocator, not by wrapping JavaScript constructors.

mini-racer's hard memory limit sees only V8's heap (`used_heap_size` after a GC). Array
buffer contents live outside the heap, in memory V8 gets from the isolate's
`v8::ArrayBuffer::Allocator`, and every path that makes one (constructors,
`ArrayBuffer.prototype.transfer`, `TypedArray.prototype.slice`/`map`/`filter`, ...) goes
through that allocator. mini-racer gives each isolate V8's default allocator and exposes
no way to replace it, but libmini_racer.so exports V8's C++ API. So, from inside the first
helper callback of an isolate (on its thread, where `v8::Isolate::TryGetCurrent()` is that
isolate), we fetch its allocator and point the object's vtable pointer at a copy of its
vtable whose `Allocate`, `AllocateUninitialized` and `Free` entries count bytes per
isolate and refuse (return NULL) past the budget. V8 then collects garbage, retries, and
throws `RangeError: Array buffer allocation failed`; the runtime reports `memory`.

The vtable layout is checked before patching (entry 5 must be V8's exported
`ArrayBuffer::Allocator::MaxAllocationSize`); with another layout nothing is patched and
`available()` says why. mini-racer is pinned (pyproject.toml) to the build this was read from.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("jibril_rules.reactions")

_ALLOC_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_VT_ALLOCATE, _VT_ALLOCATE_UNINIT, _VT_FREE, _VT_MAX_SIZE = 2, 3, 4, 5
_VT_ENTRIES = 7  # two destructors, Allocate, AllocateUninitialized, Free, MaxAllocationSize, GetPageAllocator


@dataclass
class Budget:
    """Array-buffer bytes of one isolate: live now, the cap, and whether a run hit it.

    V8 answers a refusal by collecting garbage and asking again for the same length (a few
    times) before it throws; a refusal followed by a success of that length recovered and
    is not a failure. `pending` counts the refusals of the chain still open.
    """

    limit: int
    live: int = 0
    refused: int = 0
    pending: int = 0
    pending_len: int = -1

    def refuse(self, length: int) -> None:
        if length != self.pending_len and self.pending:
            self.refused += 1  # V8 gave up on the previous length: that one failed
            self.pending = 0
        self.pending_len = length
        self.pending += 1

    def granted(self, length: int) -> None:
        if length == self.pending_len:
            self.pending, self.pending_len = 0, -1

    def reset(self) -> None:
        self.refused = self.pending = 0
        self.pending_len = -1

    @property
    def failed(self) -> bool:
        return self.refused > 0 or self.pending > 0


_lock = threading.Lock()
_by_allocator: dict[int, Budget] = {}
_tracked: dict[int, tuple[Budget, int]] = {}  # data pointer -> (budget, bytes)
_tables: dict[int, tuple[Any, ...]] = {}  # original vtable -> (counting copy, trampolines)
_state: dict[str, Any] = {}


def _setup(lib_path: str) -> str | None:
    """Resolve the V8 entry points once; a reason string when the hook cannot work."""
    if "reason" in _state:
        return str(_state["reason"]) if _state["reason"] else None
    reason = None
    try:
        lib = ctypes.CDLL(lib_path)
        cur = lib._ZN2v87Isolate13TryGetCurrentEv
        cur.restype, cur.argtypes = ctypes.c_void_p, []
        get = lib._ZN2v87Isolate23GetArrayBufferAllocatorEv
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        max_size = ctypes.cast(lib._ZNK2v811ArrayBuffer9Allocator17MaxAllocationSizeEv,
                               ctypes.c_void_p).value
        _state.update(current=cur, allocator=get, max_size=max_size)
    except (OSError, AttributeError) as exc:
        reason = f"V8 API not exported by {lib_path}: {exc}"
    _state["reason"] = reason
    return reason


def _read_ptr(addr: int) -> int:
    return int(ctypes.c_void_p.from_address(addr).value or 0)


def hook_current_isolate(lib_path: str, limit: int) -> Budget | None:
    """Cap the array buffers of the isolate running on this thread (call it from inside a
    helper callback). None if the hook is unavailable (logged once)."""
    reason = _setup(lib_path)
    if reason is None:
        iso = _state["current"]()
        alloc = int(_state["allocator"](iso) or 0) if iso else 0
        vptr = _read_ptr(alloc) if alloc else 0
        if not vptr:
            reason = "no current isolate or allocator"
        elif _read_ptr(vptr + 8 * _VT_MAX_SIZE) != _state["max_size"]:
            reason = "unexpected ArrayBuffer::Allocator vtable layout"
    if reason is not None:
        if not _state.get("warned"):
            _state["warned"] = True
            log.warning("array-buffer memory cap unavailable: %s", reason)
        return None
    with _lock:
        budget = _by_allocator.get(alloc)
        if budget is not None:
            budget.limit = limit
            return budget
        table = _shared_table(vptr)
        budget = Budget(limit)
        _by_allocator[alloc] = budget
        ctypes.c_void_p.from_address(alloc).value = ctypes.addressof(table) + 16
        return budget


def _shared_table(vptr: int) -> Any:
    """One counting vtable per original vtable (every isolate's allocator has the same
    class): nothing is allocated per isolate, so discarded isolates leak nothing. The
    trampolines find the budget by the allocator's address (`this`)."""
    cached = _tables.get(vptr)
    if cached is not None:
        return cached[0]
    orig_alloc = _ALLOC_FN(_read_ptr(vptr + 8 * _VT_ALLOCATE))
    orig_uninit = _ALLOC_FN(_read_ptr(vptr + 8 * _VT_ALLOCATE_UNINIT))
    orig_free = _FREE_FN(_read_ptr(vptr + 8 * _VT_FREE))

    def counted(orig: Any) -> Any:
        def allocate(this: int, length: int) -> int | None:
            with _lock:
                budget = _by_allocator.get(int(this or 0))
                if budget is not None:
                    if budget.live + length > budget.limit:
                        budget.refuse(length)
                        return None
                    budget.live += length  # reserve before calling out
            ptr = orig(this, length)
            if budget is not None:
                with _lock:
                    if ptr:
                        _tracked[int(ptr)] = (budget, length)
                        budget.granted(length)
                    else:
                        budget.live -= length
            return int(ptr) if ptr else None
        return _ALLOC_FN(allocate)

    def free(this: int, data: int, length: int) -> None:
        if data:
            with _lock:
                entry = _tracked.pop(int(data), None)
                if entry is not None:
                    entry[0].live -= entry[1]
        orig_free(this, data, length)

    table = (ctypes.c_void_p * (_VT_ENTRIES + 2))()
    for i in range(-2, _VT_ENTRIES):
        table[i + 2] = _read_ptr(vptr + 8 * i)
    fns = (counted(orig_alloc), counted(orig_uninit), _FREE_FN(free))
    for slot, fn in zip((_VT_ALLOCATE, _VT_ALLOCATE_UNINIT, _VT_FREE), fns, strict=True):
        table[slot + 2] = ctypes.cast(fn, ctypes.c_void_p).value
    _tables[vptr] = (table, fns, orig_alloc, orig_uninit, orig_free)
    # a patched allocator's vptr is our table: a later lookup by it must find the same one
    _tables[ctypes.addressof(table) + 16] = _tables[vptr]
    return table


def forget(budget: Budget | None) -> None:
    """The isolate is being disposed: its allocator address may be reused by a new one."""
    if budget is None:
        return
    with _lock:
        for key, b in list(_by_allocator.items()):
            if b is budget:
                del _by_allocator[key]
