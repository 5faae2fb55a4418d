"""The Data* store shared by a fleet: Redis for `shared:` keys, SQLite for the rest.

`reactions.store: redis://HOST:PORT/DB` routes the shared namespace (and, with
`store_recipe_keys: true`, every recipe's namespace) to Redis so every host sees one value;
everything else stays in the embedded SQLite store. DataIncr is HINCRBY (atomic on the
server), DataPush/DataPop are RPUSH/RPOP. Each call is bounded by `store_timeout_ms`; when
Redis is unreachable the helper fails with -1 and a clear Errno(), the failure is counted,
and for one second further calls fail at once instead of each waiting for the timeout.

Layout: hash `jibril:kv:NS` (field = key), list `jibril:list:NS:KEY`, set `jibril:lists:NS`
(the list names, so DataClear and DataHasKey see them).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .datastore import DataStore
from .helpers import HelperFailure

PREFIX = "jibril"
COOLDOWN_S = 1.0  # after a connection failure, fail fast for this long
SCHEMES = ("redis://", "rediss://", "unix://")


class StoreUnavailable(HelperFailure):
    """The shared store did not answer in time: the helper returns -1, Errno() says why."""


def is_redis_url(url: str) -> bool:
    return url.startswith(SCHEMES)


class RedisStore:
    """Same interface as DataStore, on a Redis server."""

    def __init__(self, url: str, shared_namespace: str = "shared", timeout_ms: int = 50) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        self.url = url
        self.shared_namespace = shared_namespace
        t = timeout_ms / 1000.0
        self._redis = redis
        self.client = redis.Redis.from_url(url, socket_timeout=t, socket_connect_timeout=t,
                                           retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
                                           health_check_interval=0, decode_responses=True)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.calls = 0
        self.failures = 0
        self.last_error = ""

    # -- one bounded call ----------------------------------------------------------------
    def _do(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            self.calls += 1
            down = time.monotonic() < self._down_until
            if down:
                self.failures += 1
        if down:
            raise StoreUnavailable(f"shared store {self.url} unreachable ({self.last_error}); "
                                   "retrying in a moment, detection goes on")
        try:
            return fn(*args)
        except self._redis.exceptions.ResponseError as e:
            raise HelperFailure(f"shared store refused: {e}") from None
        except self._redis.exceptions.RedisError as e:
            with self._lock:
                self.failures += 1
                self.last_error = _short(e)
                self._down_until = time.monotonic() + COOLDOWN_S
            raise StoreUnavailable(f"shared store {self.url} unreachable: {self.last_error}; "
                                   "detection goes on") from None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"store": self.url, "store_calls": self.calls, "store_failures": self.failures,
                    "store_last_error": self.last_error}

    def resolve(self, namespace: str, key: str) -> tuple[str, str]:
        return DataStore.resolve(self, namespace, key)  # type: ignore[arg-type]

    @staticmethod
    def _kv(ns: str) -> str:
        return f"{PREFIX}:kv:{ns}"

    @staticmethod
    def _list(ns: str, key: str) -> str:
        return f"{PREFIX}:list:{ns}:{key}"

    # -- key/value -------------------------------------------------------------------------
    def set(self, ns: str, key: str, value: str) -> None:
        ns, key = self.resolve(ns, key)
        self._do(self.client.hset, self._kv(ns), key, value)

    def get(self, ns: str, key: str) -> str | None:
        ns, key = self.resolve(ns, key)
        v = self._do(self.client.hget, self._kv(ns), key)
        return None if v is None else str(v)

    def delete(self, ns: str, key: str) -> bool:
        ns, key = self.resolve(ns, key)
        p = self.client.pipeline(transaction=True)
        p.hdel(self._kv(ns), key)
        p.delete(self._list(ns, key))
        p.srem(f"{PREFIX}:lists:{ns}", key)
        a, b, _ = self._do(p.execute)
        return int(a) + int(b) > 0

    def incr(self, ns: str, key: str, delta: float) -> float:
        """Atomic on the server: HINCRBY for whole deltas, HINCRBYFLOAT otherwise."""
        ns, key = self.resolve(ns, key)
        if delta == int(delta):
            try:
                return float(self._do(self.client.hincrby, self._kv(ns), key, int(delta)))
            except StoreUnavailable:
                raise
            except HelperFailure:
                pass  # the value holds a fraction: fall through to the float form
        try:
            return float(self._do(self.client.hincrbyfloat, self._kv(ns), key, delta))
        except StoreUnavailable:
            raise
        except HelperFailure:
            raise HelperFailure(f"DataIncr: the value of {key!r} is not a number") from None

    def clear(self, ns: str) -> None:
        names = self._do(self.client.smembers, f"{PREFIX}:lists:{ns}") or set()
        self._do(self.client.delete, self._kv(ns), f"{PREFIX}:lists:{ns}",
                 *[self._list(ns, k) for k in names])

    def keys(self, ns: str) -> list[str]:
        return sorted(str(k) for k in self._do(self.client.hkeys, self._kv(ns)))

    def values(self, ns: str) -> list[str]:
        d = self._do(self.client.hgetall, self._kv(ns))
        return [str(d[k]) for k in sorted(d)]

    def size(self, ns: str) -> int:
        return int(self._do(self.client.hlen, self._kv(ns)))

    def has_key(self, ns: str, key: str) -> bool:
        ns, key = self.resolve(ns, key)
        if self._do(self.client.hexists, self._kv(ns), key):
            return True
        return bool(self._do(self.client.exists, self._list(ns, key)))

    def has_value(self, ns: str, value: str) -> bool:
        return value in self._do(self.client.hvals, self._kv(ns))

    # -- lists -------------------------------------------------------------------------------
    def push(self, ns: str, key: str, value: str) -> None:
        ns, key = self.resolve(ns, key) if key else (ns, key)
        p = self.client.pipeline(transaction=True)
        p.rpush(self._list(ns, key), value)
        p.sadd(f"{PREFIX}:lists:{ns}", key)
        self._do(p.execute)

    def pop(self, ns: str, key: str) -> str | None:
        ns, key = self.resolve(ns, key) if key else (ns, key)
        v = self._do(self.client.rpop, self._list(ns, key))
        return None if v is None else str(v)

    def close(self) -> None:
        try:
            self.client.close()
        except self._redis.exceptions.RedisError:
            pass


class RoutedStore:
    """Shared (and optionally per-recipe) keys to Redis, the rest to the SQLite store."""

    def __init__(self, local: DataStore, remote: RedisStore, recipe_keys: bool) -> None:
        self.local, self.remote, self.recipe_keys = local, remote, recipe_keys
        self.shared_namespace = local.shared_namespace

    def _route(self, ns: str) -> DataStore | RedisStore:
        return self.remote if self.recipe_keys or ns == self.shared_namespace else self.local

    def resolve(self, namespace: str, key: str) -> tuple[str, str]:
        return self.local.resolve(namespace, key)

    def _k(self, ns: str, key: str) -> tuple[DataStore | RedisStore, str, str]:
        ns, key = self.resolve(ns, key) if key else (ns, key)
        return self._route(ns), ns, key

    def set(self, ns: str, key: str, value: str) -> None:
        s, ns, key = self._k(ns, key)
        s.set(ns, key, value)

    def get(self, ns: str, key: str) -> str | None:
        s, ns, key = self._k(ns, key)
        return s.get(ns, key)

    def delete(self, ns: str, key: str) -> bool:
        s, ns, key = self._k(ns, key)
        return s.delete(ns, key)

    def incr(self, ns: str, key: str, delta: float) -> float:
        s, ns, key = self._k(ns, key)
        return s.incr(ns, key, delta)

    def has_key(self, ns: str, key: str) -> bool:
        s, ns, key = self._k(ns, key)
        return s.has_key(ns, key)

    def push(self, ns: str, key: str, value: str) -> None:
        s, ns, key = self._k(ns, key)
        s.push(ns, key, value)

    def pop(self, ns: str, key: str) -> str | None:
        s, ns, key = self._k(ns, key)
        return s.pop(ns, key)

    def clear(self, ns: str) -> None:
        self._route(ns).clear(ns)

    def keys(self, ns: str) -> list[str]:
        return self._route(ns).keys(ns)

    def values(self, ns: str) -> list[str]:
        return self._route(ns).values(ns)

    def size(self, ns: str) -> int:
        return self._route(ns).size(ns)

    def has_value(self, ns: str, value: str) -> bool:
        return self._route(ns).has_value(ns, value)

    @property
    def unavailable(self) -> str | None:
        """The embedded store's state (Redis failures are per call: -1 and Errno)."""
        return self.local.unavailable

    def bounded(self, deadline: float | None) -> Any:
        return self.local.bounded(deadline)

    def stats(self) -> dict[str, Any]:
        return self.remote.stats()

    def close(self) -> None:
        self.remote.close()
        self.local.close()


def make_store(cfg: Any) -> DataStore | RoutedStore:
    """SQLite alone (the default), or SQLite + Redis when `reactions.store` is a Redis URL."""
    local = DataStore(cfg.datastore_path, cfg.shared_namespace)
    url = str(getattr(cfg, "store", "") or "")
    if not is_redis_url(url):
        return local
    return RoutedStore(local, RedisStore(url, cfg.shared_namespace, cfg.store_timeout_ms),
                       bool(cfg.store_recipe_keys))


def _short(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text.split("\n")[0][:160]
