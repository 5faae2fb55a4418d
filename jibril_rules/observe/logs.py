"""The agent's log: `logging` with levels, text (TTY) or JSON lines, journal-aware.

Level from `--log-level`, else `JIBRIL_LOG_LEVEL`, else config `log.level`, else info.
Under systemd's journal (JOURNAL_STREAM names our stderr) lines carry no timestamp: the
journal stamps every line itself. Reaction Info/Warn/Error arrive as records of the
`jibril_rules.reactions` logger carrying `recipe`, `event_uuid` and `reaction_index`; a
per-recipe token bucket drops the excess and counts it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("text", "json")
ROOT_LOGGER = "jibril_rules"
EXTRA_KEYS = ("recipe", "event_uuid", "reaction_index")
_HANDLER_NAME = "jibril-observe"
_ONE_LINE = {c: f"\\x{c:02x}" for c in range(32) if c != 9} | {10: "\\n", 13: "\\r"}


def parse_level(value: str) -> int:
    v = value.strip().lower()
    if v == "warn":
        v = "warning"
    if v not in LEVELS:
        raise ValueError(f"unknown log level {value!r}: use one of {', '.join(LEVELS)}")
    return int(getattr(logging, v.upper()))


def resolve_level(cli: str | None, config: str | None) -> int:
    for v, where in ((cli, "--log-level"), (os.environ.get("JIBRIL_LOG_LEVEL"), "$JIBRIL_LOG_LEVEL"),
                     (config, "log.level")):
        if v:
            try:
                return parse_level(v)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
    return logging.INFO


def under_journal(stream: IO[str]) -> bool:
    """JOURNAL_STREAM is "dev:inode" of the journal socket systemd gave us as stderr/stdout."""
    val = os.environ.get("JOURNAL_STREAM")
    if not val:
        return False
    try:
        dev, ino = (int(x) for x in val.split(":", 1))
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (dev, ino)
    except (ValueError, OSError, AttributeError):
        return True  # set but unverifiable (a wrapped stream): trust it


class _Formatter(logging.Formatter):
    def __init__(self, stamp: bool) -> None:
        super().__init__()
        self.stamp = stamp  # False under the journal, which stamps every line itself

    @staticmethod
    def timestamp(record: logging.LogRecord) -> str:
        return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                + f".{int(record.msecs):03d}Z")


class TextFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.stamp:
            parts.append(self.timestamp(record))
        # one record, one line: a reaction's message (attacker-controlled text such as a
        # command line) cannot forge further log lines
        parts += [record.levelname, record.getMessage().translate(_ONE_LINE)]
        for k in EXTRA_KEYS:
            v = getattr(record, k, None)
            if v is not None:
                parts.append(f"{k}={str(v).translate(_ONE_LINE)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {}
        if self.stamp:
            out["time"] = self.timestamp(record)
        out.update(level=record.levelname.lower(), logger=record.name, msg=record.getMessage())
        for k in EXTRA_KEYS:
            v = getattr(record, k, None)
            if v is not None:
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class RecipeRateLimit(logging.Filter):
    """At most `per_s` records per recipe per second (burst `burst`); excess dropped, counted."""

    def __init__(self, per_s: float, burst: int, on_drop: Callable[[str], None] | None) -> None:
        super().__init__()
        self.per_s, self.burst, self.on_drop = per_s, burst, on_drop
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.dropped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        recipe = getattr(record, "recipe", None)
        if recipe is None or self.per_s <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(recipe, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_s)
            ok = tokens >= 1.0
            self._buckets[recipe] = (tokens - 1.0 if ok else tokens, now)
            if not ok:
                self.dropped[recipe] = self.dropped.get(recipe, 0) + 1
        if not ok and self.on_drop is not None:
            self.on_drop(recipe)
        return ok


def setup_logging(level: int, fmt: str = "text", stream: IO[str] | None = None,
                  rate_per_s: float = 20.0, burst: int = 50,
                  on_drop: Callable[[str], None] | None = None) -> logging.Handler:
    """Install (or replace) our handler on the `jibril_rules` logger."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use text or json")
    stream = stream or sys.stderr
    stamp = not under_journal(stream)
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(stamp) if fmt == "json" else TextFormatter(stamp))
    handler.addFilter(RecipeRateLimit(rate_per_s, burst, on_drop))
    logger = logging.getLogger(ROOT_LOGGER)
    for h in list(logger.handlers):
        if h.get_name() == _HANDLER_NAME:
            logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
