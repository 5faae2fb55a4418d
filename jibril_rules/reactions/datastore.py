"""Persistent key-value store of the Data* helpers: SQLite in WAL mode.

Every recipe has its own namespace (its name); a key written as ``shared:KEY`` goes to the
shared namespace (`ReactionConfig.shared_namespace`) that every recipe can read and write,
for cross-recipe correlation. Each statement is its own transaction, so a writer killed
with SIGKILL leaves either the old or the new value, never a torn one (WAL + synchronous
NORMAL is crash-safe for process crashes; only power loss may drop the last commits).
A small pool of connections; SQLite's locking plus busy_timeout make parallel reactions safe.
"""

from __future__ import annotations

import json
import math
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SHARED_PREFIX = "shared:"
MAX_BUSY_MS = 10_000  # longest wait for a lock held by another writer
STACK_KEY = ""  # the list used by the one-argument DataPush(v) / DataPop()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                               PRIMARY KEY (ns, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lists (id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL,
                                  key TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lists_ns_key ON lists (ns, key, id);
"""


class StoreError(Exception):
    """The data store failed (disk full, read-only, unavailable): the message is the Errno."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"data store unavailable: {exc.strerror or exc}"
    text = str(exc)
    low = text.lower()
    if "full" in low:
        return "data store: the disk is full (database or disk is full)"
    if "readonly" in low or "read-only" in low:
        return "data store: the state dir is read-only"
    if "unable to open" in low:
        return "data store unavailable: cannot open the database file"
    return f"data store error: {text}"


def js_string(value: Any) -> str:
    """String(value) as JavaScript would render the JSON-decoded argument."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def js_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


class DataStore:
    """Namespaced persistent store; thread-safe (one sqlite connection per thread)."""

    def __init__(self, path: str, shared_namespace: str = "shared") -> None:
        self.path = path
        self.shared_namespace = shared_namespace
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # None, or why the store cannot be used (read-only state dir, ...): the runtime
        # still starts, every Data* helper then fails with this as its Errno
        self.unavailable: str | None = None
        self._local = threading.local()
        try:
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, mode=0o700, exist_ok=True)
            # created 0600 before SQLite opens it: its -wal and -shm files copy this mode
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                os.fchmod(fd, 0o600)  # an older store may have been created 0644
            finally:
                os.close(fd)
            for side in (path + "-wal", path + "-shm"):
                if os.path.exists(side):
                    os.chmod(side, 0o600)
            with self._use() as conn:
                conn.executescript(_SCHEMA)
        except (OSError, StoreError) as exc:
            self.unavailable = _describe(exc)

    def _new_conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={MAX_BUSY_MS}")
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """Borrow a pooled connection. Helpers run on V8's own (non-Python) threads, whose
        thread state does not outlive one callback, so thread-local connections would be
        re-opened on every call: a small pool is both faster and bounded. SQLite errors
        leave as StoreError with a message fit for Errno()."""
        if self.unavailable is not None:
            raise StoreError(self.unavailable)
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            try:
                conn = self._new_conn()
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc)) from None
        try:
            deadline = getattr(self._local, "deadline", None)
            if deadline is not None:  # wait for a lock no longer than the reaction may run
                ms = max(1, min(MAX_BUSY_MS, int((deadline - time.monotonic()) * 1000)))
                conn.execute(f"PRAGMA busy_timeout={ms}")
            else:
                conn.execute(f"PRAGMA busy_timeout={MAX_BUSY_MS}")
            yield conn
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc)) from None
        finally:
            self._idle.put(conn)

    @contextmanager
    def bounded(self, deadline: float | None) -> Iterator[None]:
        """Within the block, this thread waits for SQLite locks until `deadline` at most."""
        old = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = old

    def resolve(self, namespace: str, key: str) -> tuple[str, str]:
        if key.startswith(SHARED_PREFIX):
            return self.shared_namespace, key[len(SHARED_PREFIX):]
        return namespace, key

    # -- key/value -----------------------------------------------------------------
    _UPSERT = ("INSERT INTO kv (ns, key, value) VALUES (?, ?, ?) "
               "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value")

    def set(self, ns: str, key: str, value: str) -> None:
        ns, key = self.resolve(ns, key)
        with self._use() as conn:
            conn.execute(self._UPSERT, (ns, key, value))

    def get(self, ns: str, key: str) -> str | None:
        ns, key = self.resolve(ns, key)
        with self._use() as conn:
            row = conn.execute("SELECT value FROM kv WHERE ns = ? AND key = ?",
                               (ns, key)).fetchone()
        return None if row is None else str(row[0])

    def delete(self, ns: str, key: str) -> bool:
        ns, key = self.resolve(ns, key)
        with self._use() as conn:
            cur = conn.execute("DELETE FROM kv WHERE ns = ? AND key = ?", (ns, key))
            cur2 = conn.execute("DELETE FROM lists WHERE ns = ? AND key = ?", (ns, key))
            return (cur.rowcount or 0) + (cur2.rowcount or 0) > 0

    def incr(self, ns: str, key: str, delta: float) -> float:
        """Atomic read-modify-write: a missing or non-numeric value counts as 0."""
        ns, key = self.resolve(ns, key)
        with self._use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT value FROM kv WHERE ns = ? AND key = ?",
                                   (ns, key)).fetchone()
                try:
                    current = float(row[0]) if row is not None else 0.0
                except ValueError:
                    current = 0.0
                new = current + delta
                conn.execute(self._UPSERT, (ns, key, js_number(new)))
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)  # SQLite may already have rolled back (disk full)
                raise
        return new

    def clear(self, ns: str) -> None:
        with self._use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM kv WHERE ns = ?", (ns,))
                conn.execute("DELETE FROM lists WHERE ns = ?", (ns,))
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    def keys(self, ns: str) -> list[str]:
        with self._use() as conn:
            rows = conn.execute("SELECT key FROM kv WHERE ns = ? ORDER BY key", (ns,)).fetchall()
        return [str(r[0]) for r in rows]

    def values(self, ns: str) -> list[str]:
        with self._use() as conn:
            rows = conn.execute("SELECT value FROM kv WHERE ns = ? ORDER BY key",
                                (ns,)).fetchall()
        return [str(r[0]) for r in rows]

    def size(self, ns: str) -> int:
        with self._use() as conn:
            row = conn.execute("SELECT count(*) FROM kv WHERE ns = ?", (ns,)).fetchone()
        return int(row[0])

    def has_key(self, ns: str, key: str) -> bool:
        ns, key = self.resolve(ns, key)
        with self._use() as conn:
            if conn.execute("SELECT 1 FROM kv WHERE ns = ? AND key = ?", (ns, key)).fetchone():
                return True
            return conn.execute("SELECT 1 FROM lists WHERE ns = ? AND key = ? LIMIT 1",
                                (ns, key)).fetchone() is not None

    def has_value(self, ns: str, value: str) -> bool:
        with self._use() as conn:
            return conn.execute("SELECT 1 FROM kv WHERE ns = ? AND value = ? LIMIT 1",
                                (ns, value)).fetchone() is not None

    # -- lists (stack) --------------------------------------------------------------
    def push(self, ns: str, key: str, value: str) -> None:
        ns, key = self.resolve(ns, key) if key else (ns, key)
        with self._use() as conn:
            conn.execute("INSERT INTO lists (ns, key, value) VALUES (?, ?, ?)", (ns, key, value))

    def list_len(self, ns: str, key: str) -> int:
        ns, key = self.resolve(ns, key) if key else (ns, key)
        with self._use() as conn:
            row = conn.execute("SELECT count(*) FROM lists WHERE ns = ? AND key = ?",
                               (ns, key)).fetchone()
        return int(row[0])

    def pop(self, ns: str, key: str) -> str | None:
        ns, key = self.resolve(ns, key) if key else (ns, key)
        with self._use() as conn:
            row = conn.execute(
                "DELETE FROM lists WHERE id = (SELECT max(id) FROM lists WHERE ns = ? AND key = ?) "
                "RETURNING value", (ns, key)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._idle = queue.SimpleQueue()
