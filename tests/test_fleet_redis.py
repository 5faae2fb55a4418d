"""The shared Data* store on a real redis-server (issue 10), started here on 127.0.0.1.

- the Redis store behaves like the SQLite one for every Data* helper;
- two `jibril replay` processes on one Redis increment one shared: counter: it sums;
- Redis stopped: helpers return -1 with Errno(), every call stays bounded, failures counted;
  the live agent keeps detecting (tests/test_fleet_follow.py covers the live part).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_support import Redis, free_port, redis_server

ROOT = Path(__file__).resolve().parent.parent
RECIPE = """
- kind: watch
  name: shared_hits
  mechanism: file_access
  file_actions: [create]
  bases: [{regex: '/srv/fleet-test/f[0-9]+'}]
  reactions:
    - format: js
      code: |
        function process(data) {
          let n = DataIncr("shared:hits");
          let err = Errno();
          DataSet("last", n);
          DataSet("errno", err);
          DataIncr("local_runs");
        }
"""


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[Redis]:
    with redis_server(tmp_path / "redis") as r:
        yield r


def _events(path: Path, n: int, tag: str) -> None:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "uuid": f"{tag}{i}", "timestamp": "2026-11-22T10:00:10.000030Z",
                "mechanism": "file_access",
                "process": {"pid": 4000 + i, "ppid": 1, "uid": 1000, "comm": "touch",
                            "cmd": "touch", "exe": "/usr/bin/touch"},
                "file": {"file": f"/srv/fleet-test/f{i}", "dir": "/srv/fleet-test",
                         "basename": f"f{i}", "actions": ["create"]}}) + "\n")


def test_redis_store_matches_sqlite_semantics(redis: Redis, tmp_path: Path) -> None:
    from jibril_rules.reactions.datastore import DataStore
    from jibril_rules.reactions.store_redis import RedisStore
    for s in (DataStore(str(tmp_path / "s.sqlite")), RedisStore(redis.url)):
        assert s.incr("r", "c", 1) == 1 and s.incr("r", "c", 2) == 3
        assert s.incr("r", "c", 0.5) == 3.5 and s.incr("r", "c", 1) == 4.5
        s.set("r", "k", "v")
        assert s.get("r", "k") == "v" and s.get("r", "missing") is None
        s.push("r", "lst", "a")
        s.push("r", "lst", "b")
        assert s.pop("r", "lst") == "b" and s.has_key("r", "lst")
        assert s.keys("r") == ["c", "k"] and s.size("r") == 2 and s.has_value("r", "v")
        s.set("r", "shared:x", "1")
        assert s.get("other", "shared:x") == "1" and s.keys("shared") == ["x"]
        assert s.delete("r", "k") and not s.delete("r", "k")
        s.clear("r")
        assert s.size("r") == 0 and s.pop("r", "lst") is None
        s.close()


def _replay(cwd: Path, events: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "jibril_rules.cli", "replay", str(events),
                             "--from", str(cwd.parent / "r.yaml"), "--enforce", "--format", "json"],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _host(tmp_path: Path, name: str, store: str) -> Path:
    h = tmp_path / name
    h.mkdir()
    (h / "jibril.yaml").write_text(f"reactions: {{state_dir: '{h}/state', temp_root: '{h}', "
                                   f"store: '{store}', store_timeout_ms: 50}}\n")
    return h


def test_two_hosts_share_one_counter(redis: Redis, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    a, b = _host(tmp_path, "a", redis.url), _host(tmp_path, "b", redis.url)
    _events(tmp_path / "ea.jsonl", 30, "a")
    _events(tmp_path / "eb.jsonl", 25, "b")
    pa, pb = _replay(a, tmp_path / "ea.jsonl"), _replay(b, tmp_path / "eb.jsonl")
    for p in (pa, pb):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    import redis as redis_py
    total = redis_py.Redis.from_url(redis.url).hget("jibril:kv:shared", "hits")
    assert int(total) == 55
    lasts = []
    for h in (a, b):  # per-recipe keys stayed in each host's own SQLite store
        with sqlite3.connect(h / "state" / "reactions.sqlite") as db:
            kv = dict(db.execute("SELECT key, value FROM kv WHERE ns = 'shared_hits'").fetchall())
        lasts.append(int(kv["last"]))
        assert kv["errno"] == ""
    assert max(lasts) == 55  # whichever host ran last read the fleet-wide total


def test_redis_down_returns_minus_one_with_errno_and_counts(redis: Redis, tmp_path: Path) -> None:
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef
    code = ("function process(data) { let n = DataIncr('shared:hits'); let e = Errno();"
            " DataSet('last', n); DataSet('errno', e); DataIncr('local_runs'); }")
    cfg = ReactionConfig.from_dict({"mode": "enforce", "state_dir": str(tmp_path / "state"),
                                    "temp_root": str(tmp_path), "store": redis.url})
    ref, specs = RecipeRef("watch", "shared_hits"), [ReactionSpec("js", code)]
    with ReactionRuntime(cfg) as rt:
        assert rt.run_now(ref, specs, {"uuid": "1"})[0].status == "ok"
        store = rt.services.store
        assert store.get("shared_hits", "last") == "1"
        redis.stop()
        t0 = time.monotonic()
        for i in range(5):
            rec = rt.run_now(ref, specs, {"uuid": f"d{i}"})[0]
            assert rec.status == "ok"
        elapsed = time.monotonic() - t0
        assert store.get("shared_hits", "last") == "-1"
        errno = store.get("shared_hits", "errno") or ""
        assert "unreachable" in errno and "127.0.0.1" in errno, errno
        assert store.get("shared_hits", "local_runs") == "6"  # the SQLite keys carried on
        st = rt.stats()
        assert st["store_failures"] >= 5 and st["store_calls"] >= 6, st
        assert elapsed < 5, elapsed  # bounded: tens of ms per call, not seconds
        redis.start()
        time.sleep(1.1)  # the fail-fast cool-down passes, the next call reaches Redis again
        rt.run_now(ref, specs, {"uuid": "back"})
        assert store.get("shared_hits", "last") == "1"  # a fresh server: no persistence here


def test_bad_store_url_is_a_located_config_error(tmp_path: Path) -> None:
    from jibril_rules.config import load_config
    from jibril_rules.core.errors import JibrilError
    (tmp_path / "jibril.yaml").write_text("reactions:\n  store: mysql://x\n")
    with pytest.raises(JibrilError) as ei:
        load_config(str(tmp_path / "jibril.yaml"))
    assert "redis://" in ei.value.diagnostics[0].message


def test_unreachable_port_never_blocks(tmp_path: Path) -> None:
    from jibril_rules.reactions.helpers import HelperFailure
    from jibril_rules.reactions.store_redis import RedisStore
    s = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout_ms=50)
    t0 = time.monotonic()
    for _ in range(50):
        with pytest.raises(HelperFailure):
            s.incr("r", "shared:x", 1)
    assert time.monotonic() - t0 < 2 and s.stats()["store_failures"] == 50


def test_recipe_keys_go_to_redis_only_when_configured(redis: Redis, tmp_path: Path) -> None:
    from jibril_rules.reactions.datastore import DataStore
    from jibril_rules.reactions.store_redis import RedisStore, RoutedStore
    for recipe_keys in (False, True):
        local = DataStore(str(tmp_path / f"s{recipe_keys}.sqlite"))
        remote = RedisStore(redis.url)
        s = RoutedStore(local, remote, recipe_keys)
        s.incr("rec", "shared:n", 1)
        s.incr("rec", "own", 1)
        assert remote.get("x", "shared:n") is not None and local.get("x", "shared:n") is None
        assert (remote.get("rec", "own") is not None) is recipe_keys
        assert (local.get("rec", "own") is not None) is not recipe_keys
        remote.clear("rec")
        s.close()
