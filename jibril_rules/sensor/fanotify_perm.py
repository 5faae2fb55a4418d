"""The permission group's responder: FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM events on the
`prevent: deny` inodes, answered on their own thread (whatever the poll loop does) and, past
the deadline, allowed by a watchdog. A mixin of FanotifyWatch, which owns the state."""

from __future__ import annotations

import os
import select
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .fanotify_abi import FAN_ALLOW, FAN_DENY, FAN_OPEN_EXEC_PERM, META
from .fanotify_plan import DenyFile, Prevent


@dataclass
class Stats:
    """Counters of both groups (the agent's status and metrics read them)."""

    events: int = 0
    perm_events: int = 0
    denied: int = 0
    would_deny: int = 0
    watchdog_allowed: int = 0
    overflows: int = 0
    marks: int = 0
    widened: int = 0
    errors: int = 0
    last_error: str = ""
    slowest_answer_us: int = 0


class PermissionResponder:
    """Answers permission events; FanotifyWatch.__init__ sets these attributes."""

    pfd: int
    deadline_s: float
    deny_ino: dict[tuple[int, int], tuple[DenyFile, str]]
    stats: Stats
    answer_hook: Callable[[], None] | None
    wake_w: int
    _pending: dict[int, float]
    _plock: threading.Lock
    _queue: deque[tuple[int, str, list[str], Prevent | None]]
    _stop: threading.Event

    def _answer(self, fd: int, response: int) -> bool:
        with self._plock:
            t0 = self._pending.pop(fd, None)
            if t0 is None:
                return False  # the watchdog (or the responder) answered it already
            try:
                os.write(self.pfd, struct.pack("=iI", fd, response))
            except OSError as e:
                self.stats.errors += 1
                self.stats.last_error = f"fanotify response: {e}"
            os.close(fd)
        us = int((time.monotonic() - t0) * 1e6)
        self.stats.slowest_answer_us = max(self.stats.slowest_answer_us, us)
        return True

    def _respond_loop(self) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.pfd], [], [], 0.05)
                if not r:
                    continue
                buf = os.read(self.pfd, 8192)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                continue
            now = time.monotonic()
            evs: list[tuple[int, int, int]] = []
            off = 0
            while off + META.size <= len(buf):
                ln, _v, _r, _ml, mask, fd, pid = META.unpack_from(buf, off)
                off += ln or META.size
                if fd >= 0:
                    with self._plock:
                        self._pending[fd] = now
                    evs.append((mask, fd, pid))
            for mask, fd, pid in evs:
                self._decide(mask, fd, pid)

    def _decide(self, mask: int, fd: int, pid: int) -> None:
        self.stats.perm_events += 1
        verdict, prevent, path = FAN_ALLOW, None, ""
        try:
            if self.answer_hook is not None:
                self.answer_hook()
            st = os.fstat(fd)
            hit = self.deny_ino.get((st.st_dev, st.st_ino))
            action = "execve" if mask & FAN_OPEN_EXEC_PERM else "open"
            if hit is not None and action in hit[0].actions:
                rule, path = hit
                prevent = Prevent(rule.recipe, rule.enforce, action)
                verdict = FAN_DENY if rule.enforce else FAN_ALLOW
        except OSError:
            pass
        if not self._answer(fd, verdict):
            return  # the watchdog allowed it already
        if prevent is not None:
            if prevent.enforced:
                self.stats.denied += 1
            else:
                self.stats.would_deny += 1
            self._queue.append((pid, path, [prevent.action], prevent))
            try:
                os.write(self.wake_w, b"\0")
            except OSError:
                pass

    def _watchdog_loop(self) -> None:
        """Allow every permission event older than the deadline: no access waits forever."""
        while not self._stop.wait(self.deadline_s / 4):
            now = time.monotonic()
            with self._plock:
                late = [fd for fd, t in self._pending.items() if now - t > self.deadline_s]
            for fd in late:
                if self._answer(fd, FAN_ALLOW):
                    self.stats.watchdog_allowed += 1
