"""Import bcc (Debian's python3-bpfcc) from any Python, and check the machine can run BPF.

bcc is not on PyPI; Debian installs it under /usr/lib/python3/dist-packages, which the
pyenv interpreter does not see. Every error here names the command that fixes it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

DIST_PACKAGES = "/usr/lib/python3/dist-packages"
SETUP_HINT = "run: sudo jibril setup (in a checkout: sudo bash scripts/setup.sh)"
TRACEFS = "/sys/kernel/tracing"
REQUIRED_TRACEPOINTS = (
    "sched/sched_process_exec", "sched/sched_process_fork", "sched/sched_process_exit",
    "sock/inet_sock_set_state", "syscalls/sys_enter_openat", "syscalls/sys_enter_connect",
)


class SensorUnavailable(RuntimeError):
    """The live sensor cannot run here; the message says why and how to fix it."""


def import_bcc() -> ModuleType:
    """Return the bcc module, adding Debian's dist-packages to sys.path if needed."""
    try:
        import bcc  # type: ignore[import-not-found]
        return bcc  # type: ignore[no-any-return]
    except ImportError:
        pass
    if DIST_PACKAGES not in sys.path:
        sys.path.append(DIST_PACKAGES)
    try:
        import bcc
    except ImportError as e:
        raise SensorUnavailable(
            f"bcc (python3-bpfcc) is not installed or not importable ({e}); {SETUP_HINT}"
        ) from e
    return bcc  # type: ignore[no-any-return]


def bpf_class() -> Any:
    return import_bcc().BPF


def tracefs_root() -> str:
    for root in (TRACEFS, "/sys/kernel/debug/tracing"):
        if os.path.isdir(os.path.join(root, "events")):
            return root
    return ""


def ensure_tracefs() -> str:
    """tracefs must be mounted for tracepoints; mount it if we are root and it is not."""
    root = tracefs_root()
    if root:
        return root
    if os.geteuid() == 0 and os.path.isdir(TRACEFS):
        os.system(f"mount -t tracefs nodev {TRACEFS} >/dev/null 2>&1")
        root = tracefs_root()
        if root:
            return root
    raise SensorUnavailable(
        f"tracefs is not mounted (no {TRACEFS}/events); run: sudo mount -t tracefs nodev {TRACEFS}"
    )


def preflight() -> None:
    """Raise SensorUnavailable with an actionable message if BPF cannot run here."""
    if os.geteuid() != 0:
        raise SensorUnavailable(
            "the live sensor loads eBPF programs and needs root; run: sudo jibril run ... "
            "(or use `jibril replay` on a recording without root)"
        )
    import_bcc()
    if not Path("/sys/kernel/btf/vmlinux").exists():
        raise SensorUnavailable(
            "the kernel exposes no BTF (/sys/kernel/btf/vmlinux missing); boot a kernel built "
            "with CONFIG_DEBUG_INFO_BTF=y, or use `jibril replay`"
        )
    kdir = Path(f"/lib/modules/{os.uname().release}/build")
    if not kdir.exists():
        raise SensorUnavailable(f"no kernel headers at {kdir} for bcc; {SETUP_HINT}")
    root = ensure_tracefs()
    missing = [t for t in REQUIRED_TRACEPOINTS if not Path(root, "events", t).is_dir()]
    if missing:
        raise SensorUnavailable(
            f"tracepoints unavailable: {', '.join(missing)} (kernel needs CONFIG_FTRACE_SYSCALLS "
            "and tracepoint support); the sensor cannot run on this kernel, use `jibril replay`"
        )
