"""The fanotify ABI: <linux/fanotify.h> numbers, the event header, and how Jibril file
actions map onto fanotify event bits."""

from __future__ import annotations

import struct

from ..core.vocab import FILE_ACTION_BIT

# <linux/fanotify.h>
FAN_ACCESS, FAN_MODIFY, FAN_CLOSE_WRITE, FAN_CLOSE_NOWRITE = 0x1, 0x2, 0x8, 0x10
FAN_OPEN, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_CREATE, FAN_DELETE = 0x20, 0x40, 0x80, 0x100, 0x200
FAN_OPEN_EXEC, FAN_Q_OVERFLOW = 0x1000, 0x4000
FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM = 0x10000, 0x40000
FAN_EVENT_ON_CHILD, FAN_ONDIR = 0x08000000, 0x40000000
FAN_CLOEXEC, FAN_NONBLOCK, FAN_CLASS_CONTENT = 0x1, 0x2, 0x4
FAN_UNLIMITED_QUEUE, FAN_UNLIMITED_MARKS = 0x10, 0x20
FAN_REPORT_DFID_NAME = 0x400 | 0x800
FAN_MARK_ADD, FAN_MARK_REMOVE, FAN_MARK_FLUSH = 0x1, 0x2, 0x80
FAN_ALLOW, FAN_DENY = 0x1, 0x2
FAN_NOFD = -1
INFO_DFID_NAME, INFO_DFID, INFO_FID = 2, 3, 1
AT_FDCWD = -100
META = struct.Struct("=IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid

# fanotify bit -> Jibril file actions (what marks can see; the rest needs a syscall hook)
ACTIONS_OF = ((FAN_OPEN, "open"), (FAN_ACCESS, "read"), (FAN_MODIFY, "write"),
              (FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE, "close"), (FAN_CREATE, "create"),
              (FAN_DELETE, "unlink"), (FAN_MOVED_FROM | FAN_MOVED_TO, "rename"),
              (FAN_OPEN_EXEC, "execve"))
MARK_ACTIONS = frozenset({a for _, a in ACTIONS_OF} | {"truncate", "link"})
MARK_ACTION_MASK = sum(1 << FILE_ACTION_BIT[a] for a in MARK_ACTIONS)
PER_FILE = FAN_OPEN | FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_OPEN_EXEC
DIR_ENTRY = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO


def mask_of(actions: int) -> int:
    """Jibril action mask -> fanotify event bits for a per-file inode mark."""
    m = FAN_MODIFY if actions & (1 << FILE_ACTION_BIT["truncate"]) else 0
    if actions & (1 << FILE_ACTION_BIT["link"]):
        m |= FAN_CREATE
    for bit, a in ACTIONS_OF:
        if actions >> FILE_ACTION_BIT[a] & 1:
            m |= bit
    return m
