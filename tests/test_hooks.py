"""Which tracepoint groups a set of kernel tables needs (no BPF needed for this part)."""

from __future__ import annotations

from jibril_rules.core.kernel_tables import KernelTables
from jibril_rules.core.vocab import action_mask
from jibril_rules.sensor.hooks import group_of, needed_groups


def test_groups_of_tracepoints() -> None:
    assert group_of("syscalls:sys_enter_openat") == "path"
    assert group_of("syscalls:sys_exit_renameat2") == "path"
    assert group_of("syscalls:sys_enter_read") == "fd_io"
    assert group_of("syscalls:sys_enter_close") == "fd_track"
    assert group_of("sock:inet_sock_set_state") == "net"
    assert group_of("syscalls:sys_exit_recvmsg") == "net"
    assert group_of("sched:sched_process_exec") == "proc"
    assert group_of("syscalls:sys_enter_execve") == "proc"


def test_needed_groups() -> None:
    assert needed_groups(KernelTables()) == {"proc"}
    assert needed_groups(KernelTables(file_base=(("xmrig", action_mask(["execve"])),))) == {"proc"}
    assert needed_groups(KernelTables(file_exact=(("/etc/passwd", action_mask(["create"])),))) == {"proc", "path"}
    assert "fd_io" in needed_groups(KernelTables(file_prefix=(("/etc/", action_mask(["read"])),)))
    assert needed_groups(KernelTables(net_remote_ports=(3333,))) == {"proc", "net", "fd_track"}
    assert len(needed_groups(KernelTables(file_any=action_mask(["any"]), net_any=True))) == 5
