"""Process table: seeded from /proc, kept current by fork/exec/exit records.

ppid comes from fork tracking (and /proc at start), never from kernel structs.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

MAX_DEPTH = 32
KEEP_EXITED = 4096


class Clock:
    """Converts bpf_ktime_get_boot_ns() stamps to RFC 3339 UTC strings."""

    def __init__(self) -> None:
        self.offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)

    def wall(self, boot_ns: int) -> float:
        return self.offset + boot_ns / 1e9

    def iso(self, boot_ns: int) -> str:
        return iso(self.wall(boot_ns))


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int = 0
    uid: int = 0
    comm: str = ""
    exe: str = ""
    argv: tuple[str, ...] = ()
    start: str = ""
    exit: str = "running"
    retcode: int = 0
    prev_exe: str = ""
    prev_args: str = ""
    cwd: str = ""  # tracked for relative paths; not part of the event schema

    @property
    def cmd(self) -> str:
        return " ".join(self.argv)

    @property
    def args(self) -> str:
        return " ".join(self.argv[1:])

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "ppid": self.ppid, "uid": self.uid, "comm": self.comm,
                "cmd": self.cmd, "exe": self.exe, "args": self.args, "start": self.start,
                "exit": self.exit, "retcode": self.retcode, "envs": "", "loader": "",
                "prev_exe": self.prev_exe, "prev_args": self.prev_args}


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


_BOOT = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
_HZ = os.sysconf("SC_CLK_TCK")


def from_proc(pid: int) -> Proc | None:
    """Read one process from /proc (None when it is gone)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    rp = stat.rfind(b")")
    comm = stat[stat.find(b"(") + 1:rp].decode(errors="replace")
    fields = stat[rp + 2:].split()
    ppid = int(fields[1])
    start = iso(_BOOT + int(fields[19]) / _HZ)
    uid = 0
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(b"Uid:"):
            uid = int(line.split()[1])
            break
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    argv = tuple(a.decode(errors="replace") for a in _read(f"/proc/{pid}/cmdline").split(b"\0") if a)
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    return Proc(pid, ppid, uid, comm, exe, argv, start, cwd=cwd)


class ProcessTable:
    def __init__(self) -> None:
        self.live: dict[int, Proc] = {}
        self.exited: OrderedDict[int, Proc] = OrderedDict()

    def seed(self) -> int:
        for name in os.listdir("/proc"):
            if name.isdigit():
                p = from_proc(int(name))
                if p:
                    self.live[p.pid] = p
        return len(self.live)

    def get(self, pid: int, uid: int = 0, comm: str = "") -> Proc:
        p = self.live.get(pid) or self.exited.get(pid)
        if p is None:
            p = from_proc(pid) or Proc(pid, uid=uid, comm=comm)
            self.live[pid] = p
        return p

    def fork(self, parent: int, child: int, start: str) -> Proc:
        par = self.get(parent)
        p = replace(par, pid=child, ppid=parent, start=start, exit="running", retcode=0,
                    prev_exe="", prev_args="")
        self.live[child] = p
        self.exited.pop(child, None)
        return p

    def exec(self, pid: int, uid: int, comm: str, exe: str, argv: tuple[str, ...],
             cwd: str = "", ppid: int = 0) -> Proc:
        old = self.get(pid, uid, comm)
        p = replace(old, uid=uid, comm=comm, exe=exe, argv=argv, prev_exe=old.exe,
                    prev_args=old.args, cwd=cwd or old.cwd, ppid=ppid or old.ppid)
        self.live[pid] = p
        return p

    def chdir(self, pid: int, cwd: str) -> None:
        self.live[pid] = replace(self.get(pid), cwd=cwd)

    def exit(self, pid: int, code: int, when: str) -> None:
        p = self.live.pop(pid, None)
        if p is None:
            return
        ret = code & 0xFF if code >= 0 else -1  # exit_group(status): status & 0xff
        self.exited[pid] = replace(p, exit=when, retcode=ret)
        while len(self.exited) > KEEP_EXITED:
            self.exited.popitem(last=False)

    def ancestry(self, pid: int) -> list[Proc]:
        """Oldest first; the process itself last."""
        chain: list[Proc] = []
        seen: set[int] = set()
        cur: int = pid
        while cur > 0 and cur not in seen and len(chain) < MAX_DEPTH:
            seen.add(cur)
            p = self.get(cur)
            chain.append(p)
            cur = p.ppid
        chain.reverse()
        return chain
