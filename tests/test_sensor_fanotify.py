"""The fanotify file mechanism (sensor/fanotify.py), live as root.

Marks (permission marks included) are only put on files and directories created here under
tmp_path; every permission event is answered (the watchdog test checks the bounded time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jibril_rules.core.kernel_tables import KernelTables
from jibril_rules.core.vocab import action_mask

pytestmark = [pytest.mark.root, pytest.mark.kernel]
ANY = action_mask(["any"])


def test_plan_from_tables_splits_what_marks_serve() -> None:
    from jibril_rules.sensor.fanotify import MarkPlan
    t = KernelTables(file_exact=(("/etc/shadow", action_mask(["open"])),),
                     file_prefix=(("/etc/cron.d/", action_mask(["write"])),
                                  ("/tmp/pre", action_mask(["open"]))),
                     file_base=(("id_rsa", action_mask(["open"])),))
    p = MarkPlan.from_tables(t)
    assert p.exact == (("/etc/shadow", action_mask(["open"])),)
    assert p.dirs == (("/etc/cron.d/", action_mask(["write"])),)
    assert p.name_prefix == (("/tmp/pre", action_mask(["open"])),)
    assert p.unserved == ("basename id_rsa",)
    assert MarkPlan.from_tables(KernelTables(file_exact=(("/x", action_mask(["mmap"])),))).unserved


class Watch:
    def __init__(self, deadline: float = 0.2) -> None:
        from jibril_rules.sensor.fanotify import FanotifyWatch
        self.events: list[tuple[int, str, list[str], Any]] = []
        self.fw = FanotifyWatch(lambda *a: self.events.append(a), answer_deadline_s=deadline)

    def run(self, script: str, *, poll_s: float = 0.3) -> subprocess.CompletedProcess[str]:
        """Run a shell script while polling (new directories get marked as they appear)."""
        box: list[subprocess.CompletedProcess[str]] = []
        th = threading.Thread(target=lambda: box.append(subprocess.run(
            ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)))
        th.start()
        while th.is_alive():
            self.fw.poll(20)
        end = time.monotonic() + poll_s
        while time.monotonic() < end:
            self.fw.poll(20)
        return box[0]

    def of(self, path: Path | str) -> list[tuple[int, str, list[str], Any]]:
        return [e for e in self.events if e[1] == str(path)]


@pytest.fixture()
def watch() -> Iterator[Watch]:
    if os.geteuid() != 0:
        print("SKIP fanotify: needs root")
        pytest.skip("needs root")
    w = Watch()
    yield w
    w.fw.close()


def _acts(w: Watch, path: Path | str) -> set[str]:
    return {a for e in w.of(path) for a in e[2]}


def test_file_actions_in_a_watched_dir_and_later_subdirs(watch: Watch, tmp_path: Path) -> None:
    from jibril_rules.sensor.fanotify import MarkPlan
    d, other = tmp_path / "w", tmp_path / "other"
    d.mkdir()
    other.mkdir()
    (d / "old").mkdir()
    watch.fw.start(MarkPlan.from_tables(KernelTables(file_prefix=((f"{d}/", ANY),))))
    r = watch.run(f"echo hi > {d}/a; cat {d}/a >/dev/null; echo o > {other}/x; "
                  f"mkdir {d}/new; sleep 0.3; echo x > {d}/new/b; echo y > {d}/old/c; "
                  f"mv {d}/a {d}/m; rm {d}/m")
    assert r.returncode == 0, r.stderr
    assert {"create", "open", "write", "close"} <= _acts(watch, d / "a")
    assert "read" in _acts(watch, d / "a")
    assert {"create", "write"} <= _acts(watch, d / "new" / "b"), watch.events  # marked later
    assert {"create", "write"} <= _acts(watch, d / "old" / "c")  # existing subdir
    assert "rename" in _acts(watch, d / "a") and "rename" in _acts(watch, d / "m")
    assert "unlink" in _acts(watch, d / "m")
    assert not watch.of(other / "x")
    assert all(e[0] > 0 for e in watch.events)


def test_exact_path_that_appears_later(watch: Watch, tmp_path: Path) -> None:
    from jibril_rules.sensor.fanotify import MarkPlan
    target = tmp_path / "later.conf"
    (tmp_path / "sibling").write_text("s")
    watch.fw.start(MarkPlan.from_tables(KernelTables(
        file_exact=((str(target), action_mask(["open", "create"])),))))
    watch.run(f"touch {target}; sleep 0.3; cat {target}; cat {tmp_path}/sibling")
    assert {"create", "open"} <= _acts(watch, target)
    assert not watch.of(tmp_path / "sibling")


def _deny_plan(*paths: Path, enforce: bool = True, actions: tuple[str, ...] = ("open", "execve")
               ) -> Any:
    from jibril_rules.sensor.fanotify import DenyFile, MarkPlan
    return MarkPlan(deny=(DenyFile("deny_test", tuple(str(p) for p in paths), actions, enforce),))


def test_prevent_deny_open_gets_eperm(watch: Watch, tmp_path: Path) -> None:
    secret, free = tmp_path / "secret", tmp_path / "free"
    secret.write_text("s")
    free.write_text("f")
    watch.fw.start(_deny_plan(secret))
    r = watch.run(f"cat {secret}; echo rc=$?; cat {free}")
    assert "Operation not permitted" in r.stderr and "rc=1" in r.stdout and "f" in r.stdout
    hits = watch.of(secret)
    assert hits and hits[0][3].recipe == "deny_test" and hits[0][3].enforced
    assert watch.fw.stats.denied == 1
    # monitor mode, switched live: the open goes on, recorded as "would prevent"
    watch.fw.set_enforce(False)
    r = watch.run(f"cat {secret}")
    assert r.returncode == 0 and r.stdout == "s"
    assert watch.fw.stats.would_deny == 1
    assert not watch.of(secret)[-1][3].enforced


def test_prevent_deny_exec_gets_eperm(watch: Watch, tmp_path: Path) -> None:
    exe = tmp_path / "jbtrue"
    shutil.copy("/bin/true", exe)
    watch.fw.start(_deny_plan(exe, actions=("execve",)))
    with pytest.raises(PermissionError):
        subprocess.run([str(exe)], check=True)
    assert exe.read_bytes()[:4] == b"\x7fELF"  # reading it is not denied (exec only)
    watch.fw.poll(50)
    assert watch.of(exe) and watch.of(exe)[0][2] == ["execve"]


def test_other_mount_namespace_is_covered(watch: Watch, tmp_path: Path) -> None:
    """A process in a new mount namespace reaching the watched inodes through a bind mount
    at another path is still seen (reported with our path) and still denied."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) missing")
    from jibril_rules.sensor.fanotify import DenyFile, MarkPlan
    d, alt = tmp_path / "w", tmp_path / "alt"
    d.mkdir()
    alt.mkdir()
    secret = d / "secret"
    secret.write_text("s")
    t = KernelTables(file_prefix=((f"{d}/", ANY),))
    base = MarkPlan.from_tables(t)
    watch.fw.start(MarkPlan(base.exact, base.dirs, base.name_prefix,
                            (DenyFile("deny_ns", (str(secret),)),)))
    r = watch.run(f"unshare --mount --propagation private sh -c 'mount --bind {d} {alt} && "
                  f"echo c > {alt}/incontainer; cat {alt}/secret; echo rc=$?'")
    assert "rc=1" in r.stdout and "Operation not permitted" in r.stderr, (r.stdout, r.stderr)
    assert {"create", "write"} <= _acts(watch, d / "incontainer"), watch.events
    assert watch.of(secret) and watch.of(secret)[0][3].recipe == "deny_ns"
    assert not os.path.exists(alt / "incontainer")  # the bind mount lived in the other ns


def test_watchdog_allows_when_the_responder_stalls(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    w = Watch(deadline=0.2)
    secret = tmp_path / "secret"
    secret.write_text("s")
    stall = threading.Event()
    w.fw.answer_hook = lambda: stall.wait(2.0)  # the decision takes 2 s
    try:
        w.fw.start(_deny_plan(secret))
        t0 = time.monotonic()
        r = subprocess.run(["cat", str(secret)], capture_output=True, text=True, timeout=10)
        waited = time.monotonic() - t0
        assert r.returncode == 0 and r.stdout == "s"  # allowed on timeout, not denied late
        assert waited < 1.5, waited
        assert w.fw.stats.watchdog_allowed == 1
    finally:
        stall.set()
        w.fw.close()


def test_name_prefix_covers_matching_files_and_dir_trees(watch: Watch, tmp_path: Path) -> None:
    from jibril_rules.sensor.fanotify import MarkPlan
    (tmp_path / "pre.d" / "deep").mkdir(parents=True)
    (tmp_path / "other.d").mkdir()
    watch.fw.start(MarkPlan.from_tables(KernelTables(
        file_prefix=((f"{tmp_path}/pre", action_mask(["create", "write"])),))))
    watch.run(f"echo a > {tmp_path}/prefile; echo b > {tmp_path}/pre.d/deep/x; "
              f"echo c > {tmp_path}/other.d/y; echo d > {tmp_path}/nope")
    assert {"create", "write"} <= _acts(watch, tmp_path / "prefile")
    assert {"create", "write"} <= _acts(watch, tmp_path / "pre.d" / "deep" / "x")
    assert not watch.of(tmp_path / "other.d" / "y") and not watch.of(tmp_path / "nope")
