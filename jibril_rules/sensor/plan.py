"""Which kernel mechanism serves which part of the kernel tables, and what it costs.

Pure (no bcc, no kernel): `jibril compile` and `jibril explain` print the same plan the live
sensor attaches. Mechanisms, cheapest first for what they can see:

- exec       sched_process_exec/fork/exit raw tracepoints: process tree, exec filter,
             `prevent: kill` (always attached; cost per exec/fork, nothing per syscall)
- marks      fanotify marks on exact paths, directories and prefixes (knet's mechanism):
             zero cost for files nobody watches
- fallback   one raw_syscalls program per direction with a syscall-number dispatch: what marks
             cannot see (mmap, fsync, flock, llseek, fasync; basenames and regexes anywhere);
             attached only when the bundle has such an entry, and it costs every syscall
- cgroup_net cgroup v2 sock_addr/skb programs (knet's mechanism): connect/bind/sendmsg/DNS
- legacy_net the previous design's connect/recv/TCP-state tracepoints, used for network
             recipes only while no cgroup_net mechanism is registered

The split is exact: every (entry, action) of the tables goes to exactly one file mechanism,
so no event is reported twice and none is lost (tests/test_sensor_plan.py checks it against
KernelModel with hypothesis).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.kernel_tables import KernelTables
from ..core.vocab import FILE_ACTION_BIT, action_mask
from . import costs

EXECVE = 1 << FILE_ACTION_BIT["execve"]
# What fanotify can report on a marked object (FAN_OPEN/ACCESS/MODIFY/CLOSE_*, DFID_NAME
# create/delete/move); truncate arrives as FAN_MODIFY, link as FAN_CREATE in the directory.
MARKABLE = action_mask(["open", "read", "write", "create", "unlink", "rename", "close",
                        "truncate", "link"])
FILE_MASK = action_mask(["any"]) & ~EXECVE
# raw_syscalls groups (JB_FB_* in bpf/jibril_events.h)
FB_OPEN, FB_PATH, FB_FD, FB_CLOSE = 1, 2, 4, 8
CLOSE = 1 << FILE_ACTION_BIT["close"]
_OPEN_ACTS = action_mask(["open", "create", "truncate", "write"])
_PATH_ACTS = action_mask(["unlink", "rename", "link", "truncate", "create"])
_FD_ACTS = action_mask(["read", "write", "mmap", "llseek", "fsync", "flock", "fasync",
                        "truncate"])

EXEC, MARKS, FALLBACK, CGROUP_NET, LEGACY_NET = "exec", "marks", "fallback", "cgroup_net", "legacy_net"


@dataclass(frozen=True)
class Use:
    """One mechanism in use: what it serves, its cost class, and why it was chosen."""

    mechanism: str
    serves: str
    cost: str
    reason: str


@dataclass(frozen=True)
class Plan:
    uses: tuple[Use, ...]
    kernel: KernelTables     # loaded into the exec/fallback program's maps
    marks: KernelTables      # handed to the marks mechanism (empty without one)
    fb: int                  # FB_* groups of the fallback (0: not attached)
    net: str                 # CGROUP_NET, LEGACY_NET or "" (no network recipe)
    fbmask: int = 0          # file actions the fallback serves

    def names(self) -> tuple[str, ...]:
        return tuple(u.mechanism for u in self.uses)

    def lines(self) -> list[str]:
        return [f"{u.mechanism}: {u.serves}; {u.cost} ({u.reason})" for u in self.uses]


def _split(entries: tuple[tuple[str, int], ...], keep: int) -> tuple[tuple[str, int], ...]:
    return tuple((k, m & keep) for k, m in entries if m & keep)


def _has_net(t: KernelTables) -> bool:
    return bool(t.net_any or t.net_remote_cidrs or t.net_local_cidrs or t.net_remote_ports
                or t.net_local_ports)


def fb_groups(mask: int) -> int:
    g = 0
    if mask & _OPEN_ACTS:
        g |= FB_OPEN
    if mask & _PATH_ACTS:
        g |= FB_PATH
    if mask & _FD_ACTS:
        g |= FB_FD
    if mask & CLOSE:
        g |= FB_CLOSE
    return g


def plan(t: KernelTables, available: frozenset[str] = frozenset()) -> Plan:
    """Assign every table entry to a mechanism. `available`: optional mechanisms this host
    (and this build) offers, among MARKS and CGROUP_NET."""
    marks_ok = MARKS in available
    mark_keep = MARKABLE if marks_ok else 0
    # Marks take exact paths and prefixes for the actions they can see; the rest (basenames,
    # any-path, fd-only actions) stays in the kernel program's tables for the fallback.
    m_exact = _split(t.file_exact, mark_keep)
    m_prefix = _split(t.file_prefix, mark_keep)
    k_exact = _split(t.file_exact, ~mark_keep & (FILE_MASK | EXECVE))
    k_prefix = _split(t.file_prefix, ~mark_keep & (FILE_MASK | EXECVE))
    k_base = t.file_base
    k_any = t.file_any
    marks_t = KernelTables(file_exact=m_exact, file_prefix=m_prefix)
    kernel = replace(t, file_exact=k_exact, file_prefix=k_prefix, file_base=k_base,
                     file_any=k_any)
    fmask = k_any & FILE_MASK
    for _, m in (*k_exact, *k_prefix, *k_base):
        fmask |= m & FILE_MASK
    fb = fb_groups(fmask)
    uses = [Use(EXEC, "exec, fork, exit (process tree, exec filter, prevent: kill)",
                f"+{costs.EXEC_NS} ns per exec, nothing per syscall", "always: the process tree")]
    if m_exact or m_prefix:
        uses.append(Use(MARKS, f"marks on {len(m_exact) + len(m_prefix)} paths",
                        "0 ns for files no recipe watches", "exact paths and prefixes"))
    if fb:
        why = []
        if k_base:
            why.append(f"{len(k_base)} basename entries")
        if k_any & FILE_MASK:
            why.append("a path the kernel cannot bound (any file)")
        if fmask & ~MARKABLE:
            why.append("actions marks cannot see (" + ", ".join(
                a for a, b in FILE_ACTION_BIT.items() if fmask >> b & 1 and not MARKABLE >> b & 1) + ")")
        if not marks_ok and (k_exact or k_prefix):
            why.append("no fanotify marks mechanism on this host/build")
        uses.append(Use(FALLBACK, "file actions through raw_syscalls (" + _fb_names(fb) + ")",
                        f"per-syscall hook: +{costs.fallback_ns(fb)} ns on every syscall of the host"
                        + (f", +{costs.CLOSE_EXTRA_NS} ns per close" if fb & FB_CLOSE else ""),
                        "; ".join(why) or "file actions"))
    net = ""
    if _has_net(t):
        net = CGROUP_NET if CGROUP_NET in available else LEGACY_NET
        if net == CGROUP_NET:
            uses.append(Use(CGROUP_NET, "connect/bind/sendmsg and DNS answers",
                            f"+{costs.CGROUP_NET_NS} ns per connect/sendmsg, 0 on other syscalls",
                            "network recipes"))
        else:
            uses.append(Use(LEGACY_NET, "connect, TCP state, DNS answers (syscall tracepoints)",
                            f"+{costs.LEGACY_NET_NS} ns on every syscall of the host",
                            "network recipes and no cgroup v2 mechanism in this build"))
    return Plan(tuple(uses), kernel, marks_t, fb, net, fmask)


def build_available() -> frozenset[str]:
    """Optional mechanisms this build registers (the host may still refuse them at run)."""
    from . import mechanism
    return frozenset(mechanism.registered())


def _fb_names(fb: int) -> str:
    return "+".join(n for b, n in ((FB_OPEN, "opens"), (FB_PATH, "path syscalls"),
                                    (FB_FD, "descriptor actions"), (FB_CLOSE, "close at sys_enter"))
                    if fb & b) + (" at sys_exit" if fb & ~FB_CLOSE else "")


def recipe_hook_class(t: KernelTables, available: frozenset[str] = frozenset()) -> str:
    """One line for `jibril compile`/`explain`: the price of one recipe's kernel entries."""
    p = plan(t, available)
    parts = []
    for u in p.uses:
        if u.mechanism == EXEC:
            if t.exec_any or any(m & EXECVE for _, m in (*t.file_exact, *t.file_prefix, *t.file_base)):
                parts.append(f"sched exec hook (+{costs.EXEC_NS} ns per exec)")
            continue
        if u.mechanism == MARKS:
            parts.append(u.serves)
        else:
            parts.append(u.cost)
    return "; ".join(parts) or "no kernel hook (never matches)"
