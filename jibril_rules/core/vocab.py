"""Jibril's fixed vocabularies; bit numbers are part of the kernel ABI (bpf/jibril_events.h)."""

from __future__ import annotations

# Where the project and its docs live (pyproject.toml's [project.urls] say the same; SARIF
# rules link DOCS_URL/diagnostics.md#jrNNN). tests/test_packaging.py checks they agree.
PROJECT_URL = "https://github.com/jibril-rules/jibril-rules"
DOCS_URL = PROJECT_URL + "/blob/main/docs"

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

FILE_ACCESS, EXECUTION, NETWORK_PEERS = "file_access", "execution", "network_peers"
MECHANISMS: tuple[str, ...] = (FILE_ACCESS, EXECUTION, NETWORK_PEERS)
# a detection's `data.event_type`, by mechanism (the spelling of Jibril's reaction tests doc)
EVENT_TYPES: dict[str, str] = {FILE_ACCESS: "file_access", EXECUTION: "execution",
                               NETWORK_PEERS: "network_peer"}
# The event kinds a recipe of each mechanism looks at (an execve is also a file access).
MECHANISM_EVENTS: dict[str, tuple[str, ...]] = {
    FILE_ACCESS: (FILE_ACCESS, EXECUTION),
    EXECUTION: (EXECUTION,),
    NETWORK_PEERS: (NETWORK_PEERS,),
}
IMPORTANCE: tuple[str, ...] = ("low", "medium", "high", "critical")
# Reaction modes: monitor records what a reaction would do (dry run), enforce acts.
MODES: tuple[str, ...] = ("monitor", "enforce")
TIMES_KINDS: tuple[str, ...] = (
    "times_per_exe", "times_per_parent_exe", "times_per_cmd", "times_per_proc",
    "times_per_parent_proc", "times_in_total", "times_per_full_ancestry",
)
PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "icmp")

# Reaction helper functions, in the order of their op numbers (reactions/helpers.py binds them).
JIBRIL_HELPERS: tuple[str, ...] = (
    "Info", "Warn", "Error",
    "KillCurrent", "KillParent", "KillProcess",
    "NetBlockIp", "NetUnblockIp", "NetBlockIpTimer", "NetBlockDomain",
    "ReadFile", "WriteFile", "Stat", "CreateTempDir", "RemoveDir",
    "DataSet", "DataGet", "DataDelete", "DataClear", "DataPush", "DataPop", "DataKeys",
    "DataValues", "DataSize", "DataIsEmpty", "DataHasKey", "DataHasValue",
    "PowerOff", "Panic", "Errno",
)
EXTRA_HELPERS: tuple[str, ...] = ("DataIncr",)  # ours, not Jibril's
HELPER_ORDER: tuple[str, ...] = JIBRIL_HELPERS + EXTRA_HELPERS
HELPER_NAMES: frozenset[str] = frozenset(HELPER_ORDER)
NETWORK_HELPERS: frozenset[str] = frozenset(
    {"NetBlockIp", "NetUnblockIp", "NetBlockIpTimer", "NetBlockDomain"})
KILL_HELPERS: frozenset[str] = frozenset({"KillCurrent", "KillParent", "KillProcess"})


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


# Limits of one reaction execution: jibril.yaml's `reactions.timeout_ms/memory_mb` and a
# recipe's per-reaction overrides are bounded by the same numbers.
MAX_REACTION_TIMEOUT_MS = 600_000
MAX_REACTION_MEMORY_MB = 4096
