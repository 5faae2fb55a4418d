"""The audit trail (JSONL): whole, bounded records; failures counted and logged.

Every record is one `write(2)` of one line on an `O_APPEND` descriptor, so concurrent
writers and a crash can leave at most one torn *last* line, never interleaved ones. A line
longer than the cap is shrunk (helper arguments and logs cut, with a marker) before it is
written. A failed write (disk full, read-only) is counted and logged, never raised. On
start a torn last line (a fragment with no newline) is cut off, so the next record does not
get glued to it. Files are created 0600: the trail holds event data.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

log = logging.getLogger("jibril_rules.reactions")

MARKER = "…[cut]"


def repair_torn_tail(path: str) -> int:
    """Cut a last line that has no newline; returns the number of bytes removed."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        pos, chunk = size, 65536
        while pos > 0:
            start = max(0, pos - chunk)
            data = os.pread(fd, pos - start, start)
            nl = data.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        if keep < size:
            os.ftruncate(fd, keep)
        return size - keep
    finally:
        os.close(fd)


def _shrink(rec: dict[str, Any], limit: int) -> tuple[str, bool]:
    """(the record as one JSON line of at most `limit` bytes, whether it was cut)."""
    line = json.dumps(rec, separators=(",", ":"), default=str)
    if len(line.encode("utf-8", "surrogatepass")) <= limit:
        return line, False
    budget = max(64, limit // 8)

    def cut(v: Any) -> Any:
        if isinstance(v, str) and len(v) > budget:
            return v[:budget] + MARKER
        if isinstance(v, list | tuple):
            items = [cut(x) for x in v[:64]]
            return items + ([f"{MARKER} {len(v) - 64} more"] if len(v) > 64 else [])
        if isinstance(v, dict):
            return {k: cut(x) for k, x in list(v.items())[:64]}
        return v

    small = {k: cut(v) for k, v in rec.items()}
    small["truncated"] = True
    line = json.dumps(small, separators=(",", ":"), default=str)
    if len(line.encode("utf-8", "surrogatepass")) <= limit:
        return line, True
    keep = ("recipe", "kind", "uuid", "index", "format", "start", "duration_ms", "mode", "status")
    minimal = {k: rec.get(k) for k in keep} | {"truncated": True, "error": cut(rec.get("error"))}
    line = json.dumps(minimal, separators=(",", ":"), default=str)
    if len(line.encode("utf-8", "surrogatepass")) > limit:
        line = json.dumps({k: minimal[k] for k in ("recipe", "uuid", "status", "truncated")},
                          default=str)
    return line, True


class AuditLog:
    """Thread-safe appender; `errors` and `truncated` count what went wrong."""

    def __init__(self, path: str, max_line_bytes: int) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.errors = 0
        self.truncated = 0
        self.unavailable: str | None = None
        self._lock = threading.Lock()
        self._fd: int | None = None
        try:
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, mode=0o700, exist_ok=True)
            cut = repair_torn_tail(path)
            if cut:
                log.warning("audit %s: removed a torn last line (%d bytes)", path, cut)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self.unavailable = f"cannot open {path}: {exc.strerror or exc}"
            log.error("audit trail unavailable: %s", self.unavailable)

    def write(self, rec: dict[str, Any]) -> bool:
        line, cut = _shrink(rec, self.max_line_bytes - 1)
        data = (line + "\n").encode("utf-8", "surrogatepass")
        with self._lock:
            self.truncated += cut
            if self._fd is None:
                self.errors += 1
                return False
            try:
                n = os.write(self._fd, data)
                if n != len(data):  # a short write on a full disk: never leave the fragment
                    os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - n)
                    raise OSError(28, "short write (disk full?)")
                return True
            except OSError as exc:
                self.errors += 1
                if self.errors == 1 or self.errors % 100 == 0:
                    log.error("audit %s: write failed (%s); %d record(s) lost so far",
                              self.path, exc.strerror or exc, self.errors)
                return False

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
