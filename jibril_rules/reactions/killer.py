"""Process killing with Jibril's safety rules, applied to every kill helper.

Refused (result -1, Errno says why): pids below `min_pid`, the agent itself and every one
of its ancestors, kernel threads, and the configured protected pids and process names.
Signals are sent through a pidfd opened *before* the checks, so a pid reused between the
check and the kill cannot be hit.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

PF_KTHREAD = 0x00200000


class KillRefused(Exception):
    """The safety rules refuse this pid."""


class ProcessGone(Exception):
    """No such process (already exited)."""


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            raw = fh.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    head, _, tail = raw.rpartition(")")
    comm = head.partition("(")[2]
    return [str(pid), comm, *tail.split()]


def ancestors(pid: int) -> list[int]:
    """pid's ancestors, nearest first (stops at pid 1 or an unreadable entry)."""
    out: list[int] = []
    seen = {pid}
    while True:
        fields = _stat_fields(pid)
        if fields is None:
            break
        ppid = int(fields[3])
        if ppid <= 0 or ppid in seen:
            break
        out.append(ppid)
        seen.add(ppid)
        pid = ppid
    return out


class Killer:
    def __init__(self, min_pid: int, protected_pids: Iterable[int],
                 protected_names: Iterable[str]) -> None:
        self.min_pid = min_pid
        self.protected_pids = frozenset(int(p) for p in protected_pids)
        self.protected_names = frozenset(protected_names)
        self.self_pid = os.getpid()

    def agent_pids(self) -> set[int]:
        """The agent and its ancestors; re-read at most once a second (a kill is hot path)."""
        now = time.monotonic()
        cached = getattr(self, "_agent_cache", None)
        if cached is None or now - cached[0] > 1.0 or cached[2] != os.getpid():
            cached = (now, {self.self_pid, os.getpid(), *ancestors(os.getpid())}, os.getpid())
            self._agent_cache = cached
        return cached[1]

    def check(self, pid: int) -> None:
        """Raise KillRefused / ProcessGone if pid may not be killed."""
        if pid < self.min_pid:
            raise KillRefused(f"refusing to kill pid {pid}: below the minimum pid {self.min_pid}")
        if pid in self.agent_pids():
            raise KillRefused(f"refusing to kill pid {pid}: the agent itself or its ancestor")
        if pid in self.protected_pids:
            raise KillRefused(f"refusing to kill pid {pid}: protected pid")
        fields = _stat_fields(pid)
        if fields is None:
            raise ProcessGone(f"pid {pid}: no such process")
        flags = int(fields[8]) if len(fields) > 8 else 0
        if flags & PF_KTHREAD or int(fields[3]) == 2:
            raise KillRefused(f"refusing to kill pid {pid}: kernel thread")
        comm = fields[1]
        exe_base = ""
        try:
            exe_base = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            pass
        for name in (comm, exe_base):
            if name and name in self.protected_names:
                raise KillRefused(f"refusing to kill pid {pid}: protected process {name!r}")

    def kill(self, pid: int, dry_run: bool = False) -> int:
        """0 killed (or would be, in dry run), 1 already gone; raises KillRefused.

        In a dry run a pid that is gone still counts as "would be killed": replaying a
        recording must show the intended action, not today's process table.
        """
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            # still apply the static rules so that refusals are reported as refusals
            if pid < self.min_pid or pid in self.agent_pids() or pid in self.protected_pids:
                self.check(pid)
            return 0 if dry_run else 1
        except OSError as exc:
            raise KillRefused(f"pid {pid}: {exc.strerror or exc}") from None
        try:
            try:
                self.check(pid)
            except ProcessGone:
                return 0 if dry_run else 1
            if dry_run:
                return 0
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                return 1
            return 0
        finally:
            os.close(pidfd)
