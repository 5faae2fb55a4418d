"""Attach only the tracepoints the loaded tables need.

bcc attaches every program of bpf/jibril.bpf.c at load. A bundle without network recipes
does not need the connect/recv hooks, and one without read/write/mmap/... recipes does not
need to run BPF on every read and write of the machine, so those are detached. On reload,
hooks a new bundle needs are attached *before* its tables go live and the unneeded ones are
detached after, so coverage never has a gap.
"""

from __future__ import annotations

from typing import Any

from ..core.kernel_tables import KernelTables
from ..core.kheader import const
from ..core.vocab import FILE_ACTION_BIT

FD_ACTIONS = const("JB_FA_FD_MASK")  # actions observed on a tracked descriptor
EXECVE = 1 << FILE_ACTION_BIT["execve"]
_FD_IO = {"read", "pread64", "readv", "write", "pwrite64", "writev", "mmap", "lseek", "fsync",
          "fdatasync", "flock", "ftruncate"}
_FD_TRACK = {"close", "dup", "dup2", "dup3"}
_PATH = {"openat", "openat2", "open", "creat", "unlinkat", "unlink", "rename", "renameat",
         "renameat2", "link", "linkat", "truncate"}
_NET = {"connect", "bind", "recvfrom", "recvmsg"}


def group_of(tp: str) -> str:
    """proc (always), path, fd_io, fd_track or net, from a 'category:name' tracepoint."""
    cat, name = tp.split(":", 1)
    if cat == "sock":
        return "net"
    if cat != "syscalls":
        return "proc"
    sc = name.removeprefix("sys_enter_").removeprefix("sys_exit_")
    for group, names in (("fd_io", _FD_IO), ("fd_track", _FD_TRACK), ("path", _PATH),
                         ("net", _NET)):
        if sc in names:
            return group
    return "proc"


def needed_groups(t: KernelTables) -> set[str]:
    masks = t.file_any
    for _, m in (*t.file_exact, *t.file_prefix, *t.file_base):
        masks |= m
    groups = {"proc"}
    if masks & ~EXECVE:
        groups.add("path")
    if masks & FD_ACTIONS:
        groups |= {"path", "fd_io", "fd_track"}
    if t.net_any or t.net_remote_cidrs or t.net_local_cidrs or t.net_remote_ports or t.net_local_ports:
        groups |= {"net", "fd_track"}  # DNS answers are read on tracked UDP sockets
    return groups


class Hooks:
    """The attached subset of the program's tracepoints."""

    def __init__(self, b: Any) -> None:
        self.b = b
        self.all: tuple[bytes, ...] = tuple(sorted(b.tracepoint_fds))
        self.attached: set[bytes] = set(self.all)

    def want(self, t: KernelTables, only: set[str] | None = None) -> set[bytes]:
        groups = needed_groups(t)
        if only is not None:
            groups &= only
        return {tp for tp in self.all if group_of(tp.decode()) in groups}

    def attach(self, tps: set[bytes]) -> None:
        for tp in sorted(tps - self.attached):
            self.b.attach_tracepoint(tp=tp, fn_name=b"tracepoint__" + tp.replace(b":", b"__"))
            self.attached.add(tp)

    def detach_except(self, keep: set[bytes]) -> None:
        for tp in sorted(self.attached - keep):
            self.b.detach_tracepoint(tp=tp)
            self.attached.discard(tp)
