"""What the adversarial review found held, kept held (issue 7): control socket, shell
metacharacters, kill safety, NetBlockIp refusals and rate bound, exact overload counts."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef
from jibril_rules.reactions.netpolicy import MAX_BLOCKS_PER_MINUTE
from jibril_rules.runtime.control import ControlServer


def _rt(tmp_path: Path, **kw: object) -> ReactionRuntime:
    base: dict[str, object] = {"state_dir": str(tmp_path / "state"), "temp_root": str(tmp_path),
                               "log_to_python": False}
    base.update(kw)
    return ReactionRuntime(ReactionConfig(**base))  # type: ignore[arg-type]


def test_control_socket_refuses_other_users(tmp_path: Path) -> None:
    path = tmp_path / "ctl" / "jibril.sock"
    srv = ControlServer(str(path), lambda msg: {"ok": True})
    srv.start()
    try:
        assert (os.stat(path).st_mode & 0o777) == 0o600
        pid = os.fork()
        if pid == 0:  # the child becomes nobody and tries the socket: only socket calls here
            code = 3
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(path))
                code = 0
            except PermissionError:
                code = 1
            except BaseException:
                code = 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 1, "another user reached the control socket"
        with socket.socket(socket.AF_UNIX) as s:  # the owner still gets in
            s.connect(str(path))
            s.sendall(b'{"cmd": "ping"}\n')
            assert b'"ok": true' in s.recv(100)
    finally:
        srv.close()


def test_shell_metacharacters_in_event_fields_run_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = [f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker}", f"| touch {marker}",
            f"\n touch {marker}", f"' && touch {marker} '", f'" && touch {marker} "']
    event = {"uuid": "e", "process": {"cmd": evil[0], "args": " ".join(evil), "exe": evil[2],
                                      "comm": evil[6]}, "file": {"file": evil[1]}}
    code = ('echo "$REACTION_DATA" > data.json; echo $REACTION_DATA >/dev/null; '
            'printf "%s" "$kind $name $uuid" >/dev/null')
    with _rt(tmp_path, mode="enforce") as rt:
        (rec,) = rt.run_now(RecipeRef("k", "sh"), [ReactionSpec("shell", code)], event)
    assert rec.status == "ok", rec.error
    assert not marker.exists()


def test_kill_safety_refuses_every_dangerous_pid(tmp_path: Path) -> None:
    with _rt(tmp_path, mode="enforce") as rt:
        code = f"""function process(d) {{
            for (const p of [1, 0, -1, -2, {os.getpid()}, {os.getppid()}, 2, "abc", "1; rm -rf /",
                             1e300, 2 ** 64, 1.5, null, [], {{}}, NaN, Infinity])
                Info(KillProcess(p));
        }}"""
        (rec,) = rt.run_now(RecipeRef("k", "kills"), [ReactionSpec("js", code)], {})
    assert rec.status == "ok", rec.error
    assert set(rec.logs) == {"INFO: -1"}, rec.logs
    assert os.getpid() > 0  # we are alive


def test_net_block_refusals_and_rate_bound(tmp_path: Path) -> None:
    with _rt(tmp_path, netpolicy=True, net_allowlist=("192.0.2.0/24",)) as rt:
        if rt.services.net.unavailable_reason():
            pytest.skip(f"network policy unavailable: {rt.services.net.unavailable_reason()}")
        code = """function process(d) {
            for (const ip of ["0.0.0.0/0", "0.0.0.0", "127.0.0.1", "127.9.9.9", "::", "::1",
                              "224.0.0.1", "ff02::1", "192.0.2.7", "::ffff:127.0.0.1", "nonsense", ""])
                Info(NetBlockIp(ip) + " " + Errno());
        }"""
        (rec,) = rt.run_now(RecipeRef("k", "net"), [ReactionSpec("js", code)], {})
        assert rec.status == "ok", rec.error
        assert all(line.startswith("INFO: -1 ") for line in rec.logs[:11]), rec.logs
        flood = f"""function process(d) {{
            let ok = 0, bound = 0;
            for (let i = 0; i < {MAX_BLOCKS_PER_MINUTE + 30}; i++) {{
                if (NetBlockIp("198.51.100." + (i % 250)) === 0) ok++;
                else if (Errno().includes("rate bound")) bound++;
            }}
            Info(ok, bound);
        }}"""
        (rec,) = rt.run_now(RecipeRef("k", "flood"), [ReactionSpec("js", flood)], {})
    assert rec.logs == (f"INFO: {MAX_BLOCKS_PER_MINUTE} 30",)  # monitor mode: nothing was blocked


def test_overload_drops_are_counted_exactly(tmp_path: Path) -> None:
    """executed + lost = produced, for a burst far larger than the queue."""
    specs = [ReactionSpec("js", "function process(d) { DataIncr('n') }", i) for i in range(3)]
    with _rt(tmp_path, workers=2, queue_size=30) as rt:
        produced = 0
        for i in range(500):
            rt.submit(RecipeRef("k", "burst"), specs, {"uuid": str(i)})
            produced += len(specs)
        assert rt.drain(30)
        st = rt.stats()
        (rec,) = rt.run_now(RecipeRef("k", "burst"), [ReactionSpec("js", "function process(d) { Info(DataGet('n')) }")], {})
    assert st["executions"] + st["overflow"] == produced, st
    assert rec.logs == (f"INFO: {st['executions']}",)
    time.sleep(0)
