"""`jibril run --follow` as root against a real registry and redis-server on 127.0.0.1 (issue 10).

One agent run walks the "done when" list in order: re-tag to a bundle adding a recipe (it
detects within seconds, nothing missed during the swap), a newer-engine bundle and a tampered
bundle are refused (the agent keeps detecting, ctl stats and the audit trail say why), the
registry stops (detection goes on), and a restart with the registry still down starts from
the last good bundle. A second test: the shared Redis counter of a live agent, Redis stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fleet_support import redis_server, registry

pytestmark = [pytest.mark.root, pytest.mark.kernel, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def jibril(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def watch(name: str, d: Path, pattern: str, reaction: str = "") -> str:
    return f"""
- kind: watch
  name: {name}
  mechanism: file_access
  file_actions: [create]
  bases: [{{regex: '{d}/{pattern}'}}]
{reaction}"""


class AgentProc:
    def __init__(self, cwd: Path, args: list[str], tag: str) -> None:
        self.cwd, self.tag = cwd, tag
        self.out = cwd / f"agent-{tag}.out"
        self.err = cwd / f"agent-{tag}.err"
        self.jsonl = cwd / f"det-{tag}.jsonl"
        self.sock = str(cwd / f"ctl-{tag}.sock")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jibril_rules.cli", "run", *args, "--dry-run",
                 "--for", "300", "--status-every", "1", "--output", f"jsonl:{self.jsonl}",
                 "--control", self.sock, "--metrics-listen", ""], cwd=cwd, env=env, stdout=o,
                stderr=e)
        assert wait(lambda: "ready" in self.out.read_text() or self.proc.poll() is not None, 120)
        assert self.proc.poll() is None, self.err.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def names(self) -> list[tuple[str, str]]:
        if not self.jsonl.exists():
            return []
        out = []
        for line in self.jsonl.read_text().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line being written
            out.append((ev["metadata"]["name"], ev["file"]["file"]))
        return out

    def stats(self) -> dict[str, Any]:
        r = jibril("ctl", "stats", "--socket", self.sock, cwd=self.cwd)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["stats"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait(pred: Callable[[], Any], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


def touch(path: Path) -> None:
    subprocess.run(["/bin/sh", "-c", f": > '{path}'"], check=True, timeout=10)


def detects(agent: AgentProc, name: str, path: Path, timeout: float = 10) -> bool:
    """Create `path` (again and again) until the agent reports it under recipe `name`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            path.unlink()
        touch(path)
        if wait(lambda: (name, str(path)) in agent.names(), 1.0):
            return True
    return False


def test_follow_swap_refuse_registry_down_and_restart(tmp_path: Path) -> None:
    w = tmp_path / "w"
    d = tmp_path / "watched"
    w.mkdir()
    d.mkdir()
    (w / "jibril.yaml").write_text(f"reactions: {{state_dir: '{w}/state', temp_root: '{w}'}}\n")
    (w / "a.yaml").write_text(watch("always_watched", d, "f[0-9]+"))
    (w / "b.yaml").write_text(watch("always_watched", d, "f[0-9]+")
                              + watch("added_by_follow", d, "late[0-9]*"))
    assert jibril("keygen", "--out", "k", cwd=w).returncode == 0
    for n in ("a", "b"):
        r = jibril("compile", f"{n}.yaml", "-o", f"{n}.jbundle", "--sign", "k.key", cwd=w)
        assert r.returncode == 0, r.stderr
    with registry(tmp_path / "registry") as reg:
        ref = f"{reg.addr}/fleet/rules:stable"
        assert jibril("push", "a.jbundle", ref, "--plain-http", cwd=w).returncode == 0
        follow = ["--follow", ref, "--every", "2s", "--key", "k.pub", "--plain-http"]
        agent = AgentProc(w, follow, "1")
        try:
            assert "verified" in agent.stderr()
            assert detects(agent, "always_watched", d / "f999999")
            # a workload creating f0, f1, ... spans the swap; nothing may be missed
            stop = w / "stop-workload"
            # paced (about 1,000 creates/s): a flood faster than the agent drains keeps its
            # event loop inside one poll, and no swap can happen until the flood ends
            wl = subprocess.Popen(["/bin/sh", "-c", f"cd '{d}' && i=0; while [ ! -e '{stop}' ]"
                                   " && [ $i -lt 20000 ]; do : > f$i; i=$((i+1));"
                                   " [ $((i % 20)) -eq 0 ] && sleep 0.02; done; true"])
            time.sleep(0.5)
            t0 = time.monotonic()
            pushed = jibril("push", "b.jbundle", ref, "--plain-http", cwd=w)
            assert pushed.returncode == 0, pushed.stderr
            assert detects(agent, "added_by_follow", d / "late", timeout=60), agent.stderr()
            took = time.monotonic() - t0
            stop.touch()
            assert wl.wait(60) == 0
            n = len(list(d.glob("f[0-9]*"))) - 1  # less f999999
            assert wait(lambda: len({p for nm, p in agent.names() if nm == "always_watched"})
                        >= n + 1, 20)
            seen = {p for nm, p in agent.names() if nm == "always_watched"}
            missing = [i for i in range(n) if str(d / f"f{i}") not in seen]
            assert not missing, f"missed during the swap: {missing[:10]}"
            assert n > 100, "the workload was too short to overlap the swap"
            assert "switched to bundle" in agent.stderr()
            print(f"re-tag -> first detection by the new recipe: {took:.1f} s; {n} creates "
                  "across the swap, none missed")
            st = agent.stats()["fleet"]
            good = st["active_digest"]
            assert good and st["registry"] == "ok" and st["swaps"] == 1

            # a bundle needing a newer engine is refused with that reason
            doc = json.loads((w / "b.jbundle").read_text())
            doc["engine"] = "99.0.0"
            (w / "new.jbundle").write_text(json.dumps(doc))
            assert jibril("sign", "new.jbundle", "--key", "k.key", cwd=w).returncode == 0
            assert jibril("push", "new.jbundle", ref, "--plain-http", cwd=w).returncode == 0
            assert wait(lambda: "99.0.0 or newer" in agent.stderr(), 20), agent.stderr()
            st = agent.stats()["fleet"]
            assert st["active_digest"] == good and "99.0.0 or newer" in st["refused_reason"]
            assert detects(agent, "added_by_follow", d / "late1")

            # bytes changed after signing: refused, still detecting
            tampered = (w / "b.jbundle").read_bytes().replace(b"late[0-9]*", b"lat[0-9]*e")
            from jibril_rules.fleet.oci import Client
            Client(plain_http=True).push(tampered, (w / "b.jbundle.sig").read_bytes(), ref, "b")
            assert wait(lambda: "do not match the signature" in agent.stderr(), 20)
            assert agent.stats()["fleet"]["active_digest"] == good
            assert detects(agent, "added_by_follow", d / "late2")
            st_line = [ln for ln in agent.stderr().splitlines() if "ev/s kernel" in ln][-1]
            assert "refused" in st_line and good[:19] in st_line, st_line
            audit = [json.loads(x) for x in (w / "state" / "audit.jsonl").read_text().splitlines()]
            events = [(a["event"], a.get("digest")) for a in audit if a.get("type") == "bundle"]
            assert ("activated", good) in events
            assert sum(1 for e, _ in events if e == "refused") >= 2
            assert any("99.0.0" in a.get("reason", "") for a in audit if a.get("event") == "refused")
            # the tag goes back to the good bundle: content addressed, nothing to do
            assert jibril("tag", f"{reg.addr}/fleet/rules@{good}", "stable", "--plain-http",
                          cwd=w).returncode == 0
        except BaseException:
            agent.stop()
            raise
    # the registry is stopped: the agent keeps running and detecting
    try:
        assert wait(lambda: "unreachable" in agent.stderr(), 20), agent.stderr()
        assert agent.proc.poll() is None
        assert detects(agent, "added_by_follow", d / "late3")
        assert agent.stats()["fleet"]["registry"].startswith("unreachable")
    finally:
        agent.stop()
    # restarted with the registry still down: it starts from the last good bundle
    agent2 = AgentProc(w, follow, "2")
    try:
        assert "LAST GOOD" in agent2.stderr() and good in agent2.stderr(), agent2.stderr()
        assert detects(agent2, "added_by_follow", d / "late4")
        assert agent2.stats()["fleet"]["active_source"] == "last good"
    finally:
        agent2.stop()


def test_follow_without_key_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "jibril.yaml").write_text(f"reactions: {{state_dir: '{tmp_path}/state'}}\n")
    r = jibril("run", "--follow", "127.0.0.1:1/x/y:z", "--for", "1", "--control", "", "--metrics-listen", "",
               cwd=tmp_path)
    assert r.returncode == 1 and "needs a trust key" in r.stderr and "Traceback" not in r.stderr
    assert jibril("keygen", "--out", "k", cwd=tmp_path).returncode == 0
    from fleet_support import free_port
    r = jibril("run", "--follow", f"127.0.0.1:{free_port()}/x/y:z", "--key", "k.pub", "--plain-http",
               "--for", "1", "--control", "", "--metrics-listen", "",
               cwd=tmp_path)
    assert r.returncode == 1 and "no last good bundle" in r.stderr and "Traceback" not in r.stderr
    r = jibril("run", "--follow", "127.0.0.1:1/x/y:z", "--key", "k.pub", "--every", "soon",
               "--control", "", "--metrics-listen", "",
               cwd=tmp_path)
    assert r.returncode == 1 and "not a duration" in r.stderr


def test_live_agent_shared_counter_and_redis_down(tmp_path: Path) -> None:
    d = tmp_path / "watched"
    d.mkdir()
    react = """  reactions:
    - format: js
      code: |
        function process(data) {
          let n = DataIncr("shared:live_hits");
          let e = Errno();
          DataSet("last", n);
          DataSet("errno", e);
        }
"""
    (tmp_path / "r.yaml").write_text(watch("counted", d, "c[0-9]+", react))
    with redis_server(tmp_path / "redis") as red:
        (tmp_path / "jibril.yaml").write_text(
            f"reactions: {{state_dir: '{tmp_path}/state', temp_root: '{tmp_path}', "
            f"store: '{red.url}'}}\n")
        agent = AgentProc(tmp_path, ["--from", str(tmp_path / "r.yaml")], "r")
        try:
            for i in range(3):
                assert detects(agent, "counted", d / f"c{i}")
            import redis as redis_py
            cli = redis_py.Redis.from_url(red.url)
            assert wait(lambda: int(cli.hget("jibril:kv:shared", "live_hits") or 0) >= 3, 10)
            time.sleep(0.5)
            before = int(cli.hget("jibril:kv:shared", "live_hits"))
            # a second host (the agent's reaction path, in this process) adds to the same counter
            host2 = tmp_path / "host2"
            host2.mkdir()
            settings = {"state_dir": str(host2 / "state"), "temp_root": str(host2), "store": red.url}
            (host2 / "jibril.yaml").write_text(f"reactions: {json.dumps(settings)}\n")
            events = [{"uuid": f"r{i}", "timestamp": "2026-11-22T10:00:10Z", "mechanism": "file_access",
                       "process": {"pid": 4000 + i, "ppid": 1, "uid": 1000, "comm": "touch",
                                   "exe": "/usr/bin/touch"},
                       "file": {"file": f"{d}/c{100 + i}", "dir": str(d), "basename": f"c{100 + i}",
                                "actions": ["create"]}} for i in range(4)]
            from jibril_rules.compiler.driver import load_any
            from jibril_rules.runtime.engine import Engine
            from jibril_rules.runtime.pipeline import Pipeline, reaction_runtime
            rt2 = reaction_runtime(settings)
            pipe2 = Pipeline(Engine(load_any([str(tmp_path / "r.yaml")])), (), rt2)
            try:
                assert sum(len(pipe2.feed(ev)) for ev in events) == 4
                assert rt2.drain(30), rt2.stats()
            finally:
                pipe2.close()
            assert int(cli.hget("jibril:kv:shared", "live_hits")) == before + 4
            # a replay with the same store is a rehearsal (issue 7): the shared counter stays
            with open(tmp_path / "ev.jsonl", "w") as f:
                f.writelines(json.dumps(ev) + "\n" for ev in events)
            r = jibril("replay", str(tmp_path / "ev.jsonl"), "--from", str(tmp_path / "r.yaml"), cwd=host2)
            assert r.returncode == 0, r.stderr
            assert int(cli.hget("jibril:kv:shared", "live_hits")) == before + 4
            assert detects(agent, "counted", d / "c50")  # the agent reads the fleet-wide total
            import sqlite3

            def agent_last() -> int:
                with sqlite3.connect(tmp_path / "state" / "reactions.sqlite") as db:
                    row = db.execute("SELECT value FROM kv WHERE ns = 'counted' AND key = 'last'").fetchone()
                return int(row[0]) if row else 0
            assert wait(lambda: agent_last() >= before + 5, 10), agent_last()
            red.stop()
            for i in range(3, 6):
                assert detects(agent, "counted", d / f"c{i}")  # detection goes on
            assert wait(lambda: agent.stats().get("store", {}).get("store_failures", 0) >= 1, 10)
        finally:
            agent.stop()
    import sqlite3
    with sqlite3.connect(tmp_path / "state" / "reactions.sqlite") as db:
        kv = dict(db.execute("SELECT key, value FROM kv WHERE ns = 'counted'").fetchall())
    assert kv["last"] == "-1" and "unreachable" in kv["errno"], kv


def test_run_refuses_unsigned_bundle_with_trust_key(tmp_path: Path) -> None:
    d = tmp_path / "watched"
    (tmp_path / "r.yaml").write_text(watch("w", d, "x"))
    assert jibril("keygen", "--out", "k", cwd=tmp_path).returncode == 0
    assert jibril("compile", "r.yaml", "-o", "u.jbundle", cwd=tmp_path).returncode == 0
    (tmp_path / "jibril.yaml").write_text(f"bundles: {{trust: [k.pub]}}\n"
                                          f"reactions: {{state_dir: '{tmp_path}/state'}}\n")
    r = jibril("run", "--from", "u.jbundle", "--for", "1", "--control", "", "--metrics-listen", "",
               cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "u.jbundle:1:1: error JR081: bundle is unsigned" in r.stderr
    assert f"{tmp_path}/k.pub (key id" in r.stderr and "bundles.trust in" in r.stderr
