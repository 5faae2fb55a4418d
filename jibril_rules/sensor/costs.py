"""Hook costs, one source for the numbers `jibril compile`/`explain`/`run` print.

Measured with bench/bench_sensor.py on the development host (kernel 6.18, 2 cores shared with
other jobs: single runs vary by +-30%, so these are medians of paired runs, rounded) and, for
the syscall-tracepoint cost, docs/sensor.md's reference table. Re-measure on your host with
the bench, which prints the same floors side by side.
"""

from __future__ import annotations

EXEC_NS = 4000            # per exec: two dentry walks, argv copy, filter (fork+exec: within noise)
RAW_EXIT_NS = 140         # per syscall: raw_syscalls:sys_exit, one 8-byte read + dispatch
RAW_ENTER_NS = 60         # per syscall: raw_syscalls:sys_enter dispatch (close: + dcache lookup)
CLOSE_EXTRA_NS = 500      # per close when the fallback serves close (fd -> file -> dcache)
CGROUP_NET_NS = 200       # per connect/sendmsg: cgroup programs (bench_net_file.py: +196..489)
LEGACY_NET_NS = 60        # per syscall: any enabled syscalls:* tracepoint (tracing slow path)


def fallback_ns(fb: int) -> int:
    """Per-syscall cost of the fallback with the given JB_FB_* groups."""
    ns = RAW_EXIT_NS if fb else 0
    if fb & 8:  # close is the one action needing sys_enter
        ns += RAW_ENTER_NS
    return ns
