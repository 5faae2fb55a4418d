"""Gates in front of execution: the per-recipe rate limit and the dedup window."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from .config import RecipeRef

MAX_DEDUP_KEYS = 10_000


def fingerprint(recipe: RecipeRef, detection: dict[str, Any]) -> str:
    """What the dedup window compares: the recipe and what the event is about."""
    proc = detection.get("process") or {}
    file = detection.get("file") or {}
    remote = ((detection.get("flow") or {}).get("remote") or {})
    parts: tuple[str, ...] = (recipe.name, str(proc.get("exe", "")), str(proc.get("cmd", "")),
                              str(file.get("file", "")), str(remote.get("address", "")))
    if not any(parts[1:]):
        parts = (recipe.name, str(detection.get("uuid", "")))
    return "\x00".join(parts)


class Gates:
    """Thread-safe; `check` returns None (run it), "deduped" or "rate_limited"."""

    def __init__(self, dedup_window_s: float, rate_limit: int, rate_window_s: float) -> None:
        self.dedup_window_s = dedup_window_s
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self._lock = threading.Lock()
        self._rate: dict[str, deque[float]] = {}
        self._dedup: dict[str, float] = {}

    def check(self, recipe: RecipeRef, detection: dict[str, Any]) -> str | None:
        now = time.monotonic()
        with self._lock:
            if self.dedup_window_s > 0:
                key = fingerprint(recipe, detection)
                last = self._dedup.get(key)
                if last is not None and now - last < self.dedup_window_s:
                    return "deduped"
                self._dedup[key] = now
                if len(self._dedup) > MAX_DEDUP_KEYS:
                    cutoff = now - self.dedup_window_s
                    self._dedup = {k: t for k, t in self._dedup.items() if t >= cutoff}
            if self.rate_limit > 0:
                window = self._rate.setdefault(recipe.name, deque())
                while window and now - window[0] >= self.rate_window_s:
                    window.popleft()
                if len(window) >= self.rate_limit:
                    return "rate_limited"
                window.append(now)
        return None
