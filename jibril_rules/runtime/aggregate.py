"""Per-(process, file) action aggregation for live, per-syscall events.

Jibril reports a file's actions gathered over a cadence; the live sensor emits one event per
syscall. With a window, an event's `file.actions` becomes the union of the actions the same
process did on the same path within the window, so `file_actions_how: all` recipes match
live, and each recipe reports a (process, file) pair once per window instead of once per
syscall.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..core.vocab import FILE_ACTIONS

MAX_KEYS = 65536


class FileAggregator:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._acts: OrderedDict[tuple[Any, str], tuple[float, frozenset[str]]] = OrderedDict()
        self._reported: OrderedDict[tuple[int, Any, str], float] = OrderedDict()

    @staticmethod
    def key(ev: dict[str, Any]) -> tuple[Any, str] | None:
        f, p = ev.get("file"), ev.get("process")
        if not isinstance(f, dict) or not isinstance(p, dict) or p.get("pid") is None:
            return None
        return (p.get("pid"), str(f.get("file", "")))

    def merge(self, ev: dict[str, Any], now: float) -> dict[str, Any]:
        """The event with file.actions widened to what this pid did on this path lately."""
        k = self.key(ev)
        if k is None:
            return ev
        new = frozenset(ev["file"].get("actions") or ())
        old = self._acts.get(k)
        acts = new | old[1] if old is not None and now - old[0] <= self.window_s else new
        self._acts[k] = (now, acts)
        self._acts.move_to_end(k)
        if len(self._acts) > MAX_KEYS:
            self._acts.popitem(last=False)
        if acts == new:
            return ev
        out = dict(ev)
        out["file"] = dict(ev["file"], actions=[a for a in FILE_ACTIONS if a in acts])
        return out

    def forget_reports(self) -> None:
        """Recipe numbers change on reload: start the report windows afresh."""
        self._reported.clear()

    def first_report(self, recipe: int, ev: dict[str, Any], now: float) -> bool:
        """True the first time in a window that `recipe` matches this (process, file)."""
        k = self.key(ev)
        if k is None:
            return True
        rk = (recipe, *k)
        seen = self._reported.get(rk)
        if seen is not None and now - seen <= self.window_s:
            return False
        self._reported[rk] = now
        self._reported.move_to_end(rk)
        if len(self._reported) > MAX_KEYS:
            self._reported.popitem(last=False)
        return True
