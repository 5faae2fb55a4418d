"""Shared pieces of the live-agent tests: the agent's stderr as readable lines, a printer that
keeps the recipe names it saw, and a bounded wait."""

from __future__ import annotations

import io
import threading
import time
from typing import Any


class Lines(io.StringIO):
    """The agent's stderr, readable from the test thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, s: str) -> int:
        with self.lock:
            return super().write(s)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


class Seen:
    """A printer that records the names of the recipes that matched."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def emit(self, d: Any) -> None:
        self.names.append(d.recipe_name)

    def close(self) -> None:
        pass


def wait_until(pred: Any, timeout: float = 10.0) -> bool:
    """Poll `pred` every 50 ms until it holds or `timeout` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())
