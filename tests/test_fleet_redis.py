"""The shared Data* store on a real redis-server (issue 10), started here on 127.0.0.1.

- the Redis store behaves like the SQLite one for every Data* helper;
- two hosts' live reaction paths (the agent's runtime, pipeline and engine, without the
  sensor) on one Redis increment one shared: counter: it sums, and both read the total;
- Redis stopped: helpers return -1 with Errno(), every call stays bounded, failures counted,
  detection goes on (tests/test_fleet_follow.py runs the same against a live `jibril run`);
- `jibril replay` is a rehearsal (issue 7): it never reads nor writes the configured Redis.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


class _Host:
    """One host's live reaction path, built as the agent builds it (sensor/agent.py) minus the
    sensor: the configured runtime (runtime/pipeline.reaction_runtime) behind a Pipeline over
    an Engine on the compiled recipes; reactions are submitted to the workers, not awaited."""

    def __init__(self, tmp_path: Path, name: str, store: str, **extra: Any) -> None:
        from jibril_rules.compiler.driver import load_any
        from jibril_rules.runtime.engine import Engine
        from jibril_rules.runtime.pipeline import Pipeline, reaction_runtime
        self.dir = tmp_path / name
        self.dir.mkdir()
        settings = {"state_dir": str(self.dir / "state"), "temp_root": str(self.dir),
                    "store": store, "store_timeout_ms": 50, **extra}
        self.runtime = reaction_runtime(settings, "enforce")
        self.pipe = Pipeline(Engine(load_any([str(tmp_path / "r.yaml")])), (), self.runtime)

    def feed(self, events: Path) -> int:
        """Feed recorded events; the number of detections (the agent's job goes on)."""
        with open(events) as f:
            return sum(len(self.pipe.feed(json.loads(line))) for line in f)

    def drain(self) -> None:
        assert self.runtime.drain(60), self.runtime.stats()

    def kv(self) -> dict[str, str]:
        """This host's own (SQLite) keys of the recipe."""
        with sqlite3.connect(self.dir / "state" / "reactions.sqlite") as db:
            return dict(db.execute("SELECT key, value FROM kv WHERE ns = 'shared_hits'").fetchall())

    def close(self) -> None:
        self.pipe.close()


def test_two_hosts_share_one_counter(redis: Redis, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    a, b = _Host(tmp_path, "a", redis.url), _Host(tmp_path, "b", redis.url)
    try:
        _events(tmp_path / "ea.jsonl", 30, "a")
        _events(tmp_path / "eb.jsonl", 25, "b")
        _events(tmp_path / "one.jsonl", 1, "x")
        with ThreadPoolExecutor(2) as pool:  # both hosts at once, each with its own workers
            assert list(pool.map(lambda hf: hf[0].feed(hf[1]),
                                 [(a, tmp_path / "ea.jsonl"), (b, tmp_path / "eb.jsonl")])) == [30, 25]
        a.drain()
        b.drain()
        import redis as redis_py
        cli = redis_py.Redis.from_url(redis.url)
        assert int(cli.hget("jibril:kv:shared", "hits")) == 55
        # both read the fleet-wide total: one more reaction on each host sees everyone's hits
        for host, want in ((a, 56), (b, 57)):
            assert host.feed(tmp_path / "one.jsonl") == 1
            host.drain()
            kv = host.kv()  # per-recipe keys stayed in each host's own SQLite store
            assert int(kv["last"]) == want and kv["errno"] == "", kv
        assert int(a.kv()["local_runs"]) == 31 and int(b.kv()["local_runs"]) == 26
        assert cli.hget("jibril:kv:shared_hits", "local_runs") is None
    finally:
        a.close()
        b.close()


def test_redis_down_returns_minus_one_with_errno_and_counts(redis: Redis, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    _events(tmp_path / "one.jsonl", 1, "u")
    _events(tmp_path / "five.jsonl", 5, "d")
    host = _Host(tmp_path, "a", redis.url)
    try:
        assert host.feed(tmp_path / "one.jsonl") == 1
        host.drain()
        assert host.kv()["last"] == "1"
        redis.stop()
        t0 = time.monotonic()
        assert host.feed(tmp_path / "five.jsonl") == 5  # the agent keeps detecting
        host.drain()
        elapsed = time.monotonic() - t0
        kv = host.kv()
        assert kv["last"] == "-1"
        assert "unreachable" in kv["errno"] and "127.0.0.1" in kv["errno"], kv
        assert kv["local_runs"] == "6"  # the SQLite keys carried on
        st = host.runtime.stats()
        assert st["store_failures"] >= 5 and st["store_calls"] >= 6, st
        assert elapsed < 5, elapsed  # bounded: tens of ms per call, not seconds
        redis.start()
        time.sleep(1.1)  # the fail-fast cool-down passes, the next call reaches Redis again
        assert host.feed(tmp_path / "one.jsonl") == 1
        host.drain()
        assert host.kv()["last"] == "1"  # a fresh server: no persistence here
    finally:
        host.close()


def test_replay_leaves_the_shared_store_untouched(redis: Redis, tmp_path: Path) -> None:
    """Issue 7: replay is a rehearsal; a configured Redis store is never read nor written."""
    import redis as redis_py
    (tmp_path / "r.yaml").write_text(RECIPE)
    _events(tmp_path / "e.jsonl", 3, "r")
    h = tmp_path / "h"
    h.mkdir()
    (h / "jibril.yaml").write_text(f"reactions: {{state_dir: '{h}/state', temp_root: '{h}', "
                                   f"store: '{redis.url}', store_recipe_keys: true}}\n")
    cli = redis_py.Redis.from_url(redis.url)
    cli.hset("jibril:kv:shared", "hits", 7)
    before = ({k: cli.dump(k) for k in cli.keys("*")},
              int(cli.info("stats")["total_connections_received"]))
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "replay", str(tmp_path / "e.jsonl"),
                        "--from", str(tmp_path / "r.yaml"), "--enforce", "--format", "json"],
                       cwd=h, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    notices = [ln for ln in r.stderr.splitlines() if redis.url in ln]
    assert len(notices) == 1 and "not used" in notices[0], r.stderr
    recs = [json.loads(ln)["reaction"] for ln in r.stdout.splitlines() if '"reaction"' in ln]
    assert len(recs) == 3 and all(x["status"] == "ok" for x in recs), r.stdout
    # the reactions ran against the scratch store: its own counter, 1..3, not the fleet's 8..10
    incrs = [c["result"] for x in recs for c in x["calls"] if c["name"] == "DataIncr"
             and c["args"][0] == "shared:hits"]
    assert incrs == [1, 2, 3], incrs
    after = ({k: cli.dump(k) for k in cli.keys("*")},
             int(cli.info("stats")["total_connections_received"]))
    assert after[0] == before[0]  # not a key written
    assert after[1] == before[1]  # no connection but this test's own (pooled): replay never connected
    assert not (h / "state").exists()  # nor the host's live SQLite store


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


def test_recipe_keys_routing_on_the_live_path(redis: Redis, tmp_path: Path) -> None:
    import redis as redis_py
    (tmp_path / "r.yaml").write_text(RECIPE)
    _events(tmp_path / "one.jsonl", 1, "k")
    cli = redis_py.Redis.from_url(redis.url)
    for recipe_keys in (False, True):
        host = _Host(tmp_path, f"h{recipe_keys}", redis.url, store_recipe_keys=recipe_keys)
        try:
            assert host.feed(tmp_path / "one.jsonl") == 1
            host.drain()
        finally:
            host.close()
        in_redis = cli.hget("jibril:kv:shared_hits", "local_runs") is not None
        db = host.dir / "state" / "reactions.sqlite"
        with sqlite3.connect(db) as c:
            row = c.execute("SELECT value FROM kv WHERE ns = 'shared_hits' AND key = 'local_runs'").fetchone()
        assert in_redis is recipe_keys and (row is not None) is not recipe_keys
        cli.delete("jibril:kv:shared_hits")


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
