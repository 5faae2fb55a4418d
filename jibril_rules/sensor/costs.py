"""Measured hook costs on the development host (kernel 6.18, 2 cores), one source for the
numbers `jibril compile`/`explain`/`run` print. Re-measure with bench/bench_sensor.py, which
prints the same floors side by side; docs/sensor.md quotes this table.

Extra ns per call of an openat+close C loop (baseline ~1.6 us), child CPU time, interleaved.
"""

from __future__ import annotations

EXEC_NS = 2000            # sched_process_exec: two path walks, argv copy, filter (per exec)
RAW_EXIT_NS = 110         # raw_syscalls:sys_exit program, syscall-number dispatch, no match
RAW_ENTER_NS = 110        # raw_syscalls:sys_enter program, dispatch, dcache hit
CGROUP_NET_NS = 200       # cgroup connect4 program per connect/sendmsg (bench_net_file.py: +196..489)
LEGACY_NET_NS = 60        # any syscalls:* tracepoint: every syscall takes the slow path


def fallback_ns(fb: int) -> int:
    """Per-syscall cost of the fallback with the given JB_FB_* groups."""
    ns = RAW_EXIT_NS if fb else 0
    if fb & 8:  # close is the one action needing sys_enter
        ns += RAW_ENTER_NS
    return ns
