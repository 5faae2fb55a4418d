"""Live sensor tests: the real BPF programs in this kernel, driven by hand-made KernelTables.

Skipped (with the reason) when not root, or bcc / BTF / tracepoints are missing. Files are
only touched under tmp_path; network only on loopback; only processes started here are killed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jibril_rules.core.kernel_tables import KernelTables
from jibril_rules.core.vocab import action_mask
from jibril_rules.runtime.kernel_model import KernelModel

pytestmark = [pytest.mark.root, pytest.mark.kernel]

ALL = action_mask(["any"])


def _skip_reason() -> str | None:
    from jibril_rules.sensor.bccload import SensorUnavailable, preflight
    try:
        preflight()
    except SensorUnavailable as e:
        return str(e)
    return None


class Live:
    """One loaded sensor shared by the module; tests swap its tables."""

    def __init__(self) -> None:
        from jibril_rules.sensor.sensor import Sensor
        self.events: list[dict[str, Any]] = []
        self.sensor = Sensor(KernelTables(), self.events.append)
        self.sensor.start()

    def use(self, t: KernelTables) -> None:
        self.sensor.reload(t)
        self.flush()

    def flush(self) -> None:
        self.sensor.poll(10)
        self.events.clear()

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0,
             count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sensor.poll(50)
            hits = [e for e in self.events if pred(e)]
            if len(hits) >= count:
                return hits
        return [e for e in self.events if pred(e)]

    def settle(self, seconds: float = 0.3) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sensor.poll(50)


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    reason = _skip_reason()
    if reason:
        print(f"SKIP live sensor: {reason}")
        pytest.skip(reason)
    lv = Live()
    yield lv
    lv.sensor.close()


def _file(e: dict[str, Any]) -> str:
    return str((e.get("file") or {}).get("file", ""))


def _mine(e: dict[str, Any], pid: int) -> bool:
    return int(e["process"]["pid"]) == pid


def _sh(script: str, cwd: Path | None = None) -> int:
    p = subprocess.Popen(["/bin/sh", "-c", script], cwd=cwd)
    p.wait()
    return p.pid


def test_file_actions_in_watched_dir(live: Live, tmp_path: Path) -> None:
    watched, other = tmp_path / "watched", tmp_path / "other"
    watched.mkdir()
    other.mkdir()
    live.use(KernelTables(file_prefix=((f"{watched}/", ALL),)))
    w = str(watched)
    _sh(f"echo hi > {w}/a; cat {w}/a >/dev/null; mv {w}/a {w}/b; ln {w}/b {w}/c; "
        f": > {w}/c; rm {w}/b {w}/c; echo no > {other}/x; cat {other}/x >/dev/null; "
        f"cd {w} && echo rel > r && rm r")
    evs = live.wait(lambda e: _file(e) == f"{w}/r" and "unlink" in e["file"]["actions"])
    assert evs, "relative unlink not seen"
    got = [(e["process"]["comm"], _file(e), tuple(e["file"]["actions"])) for e in live.events
           if _file(e).startswith(str(tmp_path))]
    assert all(f.startswith(w + "/") for _, f, _ in got), got  # nothing from the other dir
    # marks report per fanotify event, the fallback per syscall: compare the union of the
    # actions per (process, file), which is what the engine aggregates anyway
    acts: dict[tuple[str, str], set[str]] = {}
    for c, f, a in got:
        acts.setdefault((c, f), set()).update(a)
    assert {"open", "write", "truncate", "create"} <= acts[("sh", f"{w}/a")]
    assert {"open", "read"} <= acts[("cat", f"{w}/a")]
    assert "rename" in acts[("mv", f"{w}/a")] and "rename" in acts[("mv", f"{w}/b")]
    assert {"create", "link"} <= acts[("ln", f"{w}/c")]
    assert "unlink" in acts[("rm", f"{w}/b")] and "unlink" in acts[("rm", f"{w}/c")]
    assert {"open", "write", "truncate", "create"} <= acts[("sh", f"{w}/r")]
    for e in live.events:
        assert e["mechanism"] in ("file_access", "execution")
        assert e["background"]["ancestry"][-1]["pid"] == e["process"]["pid"]


def test_write_only_table_passes_no_reads(live: Live, tmp_path: Path) -> None:
    target = tmp_path / "w.txt"
    target.write_text("data\n")
    live.use(KernelTables(file_exact=((str(target), action_mask(["write"])),)))
    pid = _sh(f"cat {target} >/dev/null; echo more >> {target}")
    evs = live.wait(lambda e: _file(e) == str(target) and "write" in e["file"]["actions"],
                    count=2)
    live.settle()
    mine = [e for e in live.events if _file(e) == str(target)]
    assert mine and all("write" in e["file"]["actions"] for e in mine), mine
    assert not any(e["file"]["actions"] == ["read"] for e in mine)
    assert any(e["file"]["actions"] == ["write"] and _mine(e, pid) for e in evs + mine)


def test_basename_and_kernel_matches_model(live: Live, tmp_path: Path) -> None:
    t = KernelTables(file_base=(("needle.conf", action_mask(["open"])),),
                     file_prefix=((f"{tmp_path}/pre", action_mask(["open"])),),
                     file_exact=((f"{tmp_path}/exact", action_mask(["open"])),))
    live.use(t)
    names = ["needle.conf", "needle.confx", "prefix1", "pre", "pr", "exact", "exact2", "x"]
    for n in names:
        (tmp_path / n).write_text("")
    live.flush()
    pid = _sh("; ".join(f"cat {tmp_path}/{n}" for n in names) + "; cat ./needle.conf",
              cwd=tmp_path)
    live.wait(lambda e: _file(e) == f"{tmp_path}/needle.conf", count=2)
    live.settle()
    model = KernelModel(t)
    seen = {_file(e) for e in live.events if e["mechanism"] == "file_access"
            and int(e["process"]["ppid"]) == pid}
    expect = {f"{tmp_path}/{n}" for n in names if model.passes_file(f"{tmp_path}/{n}", "open")}
    assert expect == {f"{tmp_path}/{n}" for n in ("needle.conf", "prefix1", "pre", "exact")}
    assert seen == expect


def test_exec_of_copied_binary(live: Live, tmp_path: Path) -> None:
    exe = tmp_path / "jbsleeper"
    shutil.copy("/bin/sleep", exe)
    live.use(KernelTables(file_base=(("jbsleeper", action_mask(["execve"])),)))
    p = subprocess.Popen([str(exe), "0.2", "extra-arg"])
    evs = live.wait(lambda e: e["mechanism"] == "execution" and _mine(e, p.pid))
    p.wait()
    assert evs, "no execution event"
    e = evs[0]
    assert e["process"]["exe"] == str(exe)
    assert e["process"]["args"] == "0.2 extra-arg"
    assert e["process"]["cmd"] == f"{exe} 0.2 extra-arg"
    assert e["process"]["ppid"] == os.getpid()
    assert e["file"] == {"file": str(exe), "dir": str(tmp_path), "basename": "jbsleeper",
                         "actions": ["execve"]}
    assert e["background"]["ancestry"][-2]["pid"] == os.getpid()
    # an unwatched exec is not an event
    live.flush()
    subprocess.run(["/bin/true"], check=True)
    live.settle()
    assert not [e for e in live.events if e["mechanism"] == "execution"
                and e["process"]["ppid"] == os.getpid()]


def _tcp_roundtrip(port_holder: list[int]) -> tuple[int, int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    port_holder.append(port)
    code = ("import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1])));"
            "s.sendall(b'x'); s.recv(1); s.close()")
    client = subprocess.Popen([sys.executable, "-c", code, str(port)])
    conn, _ = srv.accept()
    conn.recv(1)
    conn.sendall(b"y")
    client.wait()
    conn.close()
    srv.close()
    return client.pid, port


def test_tcp_loopback_connection(live: Live) -> None:
    live.use(KernelTables(net_remote_cidrs=("127.0.0.0/8",)))
    ports: list[int] = []
    pid, port = _tcp_roundtrip(ports)
    evs = live.wait(lambda e: e["mechanism"] == "network_peers" and _mine(e, pid), count=3)
    assert evs, "no network_peers event"
    remote = {(e["flow"]["remote"]["address"], e["flow"]["remote"]["port"]) for e in evs}
    assert ("127.0.0.1", port) in remote
    started = [e for e in evs if e["flow"]["flags"]["ongoing"]]
    assert started and started[0]["flow"]["proto"] == "tcp"
    f = started[0]["flow"]
    assert f["flags"]["outgoing"] and f["phase"]["initiated_by"] == "local"
    assert f["local"]["address"] == "127.0.0.1" and f["local"]["port"] > 0
    ended = [e for e in evs if e["flow"]["flags"]["ended"]]
    live.settle()
    assert ended or any(e["flow"]["flags"]["ended"] for e in live.events if _mine(e, pid))
    assert started[0]["background"]["flows"]["protocols"][0]["proto"] == "tcp"
    # a table that watches another port / net passes nothing
    live.use(KernelTables(net_remote_ports=(1,), net_remote_cidrs=("10.1.2.0/24",)))
    pid, port = _tcp_roundtrip([])
    live.settle(0.5)
    assert not [e for e in live.events if _mine(e, pid)]


def test_reload_swap_misses_nothing(live: Live, tmp_path: Path) -> None:
    d = tmp_path / "swap"
    d.mkdir()
    t1 = KernelTables(file_prefix=((f"{d}/", action_mask(["open"])),))
    t2 = KernelTables(file_prefix=((f"{d}/", action_mask(["open", "write"])),),
                      file_base=(("other", 1),))
    live.use(t1)
    # Our own tgid is excluded from events: the opens come from a child, which keeps going
    # (bounded) until we have swapped the tables several times.
    stop = tmp_path / "stop"
    code = ("import os, sys, time\ni = 0\n"
            "while i < 20000 and not os.path.exists(sys.argv[2]):\n"
            "    open(f'{sys.argv[1]}/f{i}', 'w').close(); i += 1; time.sleep(0.0005)\n"
            "print(i)")
    child = subprocess.Popen([sys.executable, "-c", code, str(d), str(stop)],
                             stdout=subprocess.PIPE, text=True)
    swaps = 0
    while swaps < 8 and child.poll() is None:
        live.sensor.reload(t2 if swaps % 2 == 0 else t1)
        swaps += 1
        live.sensor.poll(0)
    stop.touch()
    out, _ = child.communicate(timeout=60)
    n = int(out)
    live.settle(0.5)
    got = {_file(e) for e in live.events if _mine(e, child.pid) and "open" in e["file"]["actions"]}
    assert swaps >= 3 and n > 0
    missing = {f"{d}/f{i}" for i in range(n)} - got
    assert not missing, f"{len(missing)} opens missed across {swaps} swaps"
    assert live.sensor.stats().lost == 0
