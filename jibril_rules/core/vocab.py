"""Jibril's fixed vocabularies; bit numbers are part of the kernel ABI (bpf/jibril_events.h)."""

from __future__ import annotations

FILE_ACTIONS: tuple[str, ...] = (
    "fasync", "flock", "fsync", "llseek", "mmap", "open", "read", "write",
    "rename", "truncate", "unlink", "create", "close", "link", "execve",
)
FILE_ACTION_BIT: dict[str, int] = {a: i for i, a in enumerate(FILE_ACTIONS)}
ALL_FILE_ACTIONS_MASK = (1 << len(FILE_ACTIONS)) - 1

_OPEN = ("open", "close")
_READ = ("read", "llseek", "mmap")
_MODIFY = ("create", "link", "write", "truncate", "fsync", "rename", "unlink")
FILE_ACTION_MACROS: dict[str, tuple[str, ...]] = {
    "any": FILE_ACTIONS,
    "open_related": _OPEN,
    "read_related": _READ,
    "modify_related": _MODIFY,
    "access_related": _OPEN + _READ + _MODIFY,
    "access_no_mmap_related": _OPEN + tuple(a for a in _READ if a != "mmap") + _MODIFY,
    "tamper_related": ("link", "unlink", "truncate", "rename"),
}

FLOW_FLAGS: tuple[str, ...] = (
    "created", "ingress", "egress", "incoming", "outgoing",
    "ongoing", "started", "ended", "terminator", "terminated",
)
FLOW_FLAG_BIT: dict[str, int] = {f: i for i, f in enumerate(FLOW_FLAGS)}

MECHANISMS: tuple[str, ...] = ("file_access", "execution", "network_peers")
IMPORTANCE: tuple[str, ...] = ("low", "medium", "high", "critical")
TIMES_KINDS: tuple[str, ...] = (
    "times_per_exe", "times_per_parent_exe", "times_per_cmd", "times_per_proc",
    "times_per_parent_proc", "times_in_total", "times_per_full_ancestry",
)
PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "icmp")


def expand_actions(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Expand macros (modify_related, ...) into plain actions, keeping vocabulary order."""
    wanted: set[str] = set()
    for n in names:
        wanted.update(FILE_ACTION_MACROS.get(n, (n,)))
    return tuple(a for a in FILE_ACTIONS if a in wanted)


def action_mask(names: list[str] | tuple[str, ...]) -> int:
    """Bit mask of the given actions (macros expanded, unknown names ignored)."""
    m = 0
    for a in expand_actions(names):
        m |= 1 << FILE_ACTION_BIT[a]
    return m
