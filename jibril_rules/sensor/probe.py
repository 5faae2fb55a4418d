"""What this host allows, probed directly with the bpf(2) and fanotify_init(2) syscalls.

Used by `jibril doctor` and the sensor's start report. Every probe loads the smallest possible
object (a two-instruction program, a one-page ring buffer) and closes it at once; none
attaches anything. Trampoline programs (fentry, LSM) are refused with EPERM on some
platforms before the verifier runs: we say so instead of failing later.
"""

from __future__ import annotations

import ctypes as ct
import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from .btf import Btf, BtfError, offsets

_libc = ct.CDLL(None, use_errno=True)
_libc.syscall.restype = ct.c_long
SYS_BPF = 321
SYS_FANOTIFY_INIT = 300
BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
RAW_TRACEPOINT, TRACING, LSM = 17, 26, 29
TRACE_FENTRY, LSM_MAC = 24, 27
RINGBUF = 27
CGROUP2_MAGIC = 0x63677270
FAN_CLASS_NOTIF, FAN_CLASS_CONTENT, FAN_REPORT_DFID_NAME = 0, 4, 0xC00
_PROG = struct.pack("<QQ", 0x00000000000000B7, 0x0000000000000095)  # r0 = 0; exit


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str


def _bpf(cmd: int, attr: bytes) -> tuple[int, int]:
    buf = ct.create_string_buffer(attr, 128)
    fd = _libc.syscall(SYS_BPF, cmd, buf, 128)
    err = ct.get_errno()
    if fd >= 0:
        os.close(fd)
    return fd, err


def _prog(ptype: int, attach_type: int = 0, btf_id: int = 0) -> tuple[bool, str]:
    insns = ct.create_string_buffer(_PROG)
    lic = ct.create_string_buffer(b"GPL")
    attr = bytearray(128)
    struct.pack_into("<IIQQ", attr, 0, ptype, 2, ct.addressof(insns), ct.addressof(lic))
    struct.pack_into("<I", attr, 68, attach_type)
    struct.pack_into("<I", attr, 108, btf_id)
    fd, err = _bpf(BPF_PROG_LOAD, bytes(attr))
    if fd >= 0:
        return True, "loads"
    return False, f"{errno.errorcode.get(err, err)} ({os.strerror(err)})"


def _func_id(btf: Btf, name: str) -> int:
    for i, t in enumerate(btf.types):
        if t.kind == 12 and t.name == name:  # BTF_KIND_FUNC
            return i
    return 0


def probes() -> list[Probe]:
    out: list[Probe] = []
    root = os.geteuid() == 0
    out.append(Probe("root", root, "yes" if root else "no: the live sensor needs root"))
    btf: Btf | None = None
    try:
        btf = Btf.load()
        offs = offsets(btf)
        out.append(Probe("BTF", True, f"/sys/kernel/btf/vmlinux: {len(btf.types)} types, "
                         f"{len(offs)} sensor field offsets resolved (file.f_path.dentry="
                         f"{offs['OFF_FILE_F_PATH_DENTRY']})"))
    except BtfError as e:
        out.append(Probe("BTF", False, str(e)))
    if root:
        ok, d = _prog(RAW_TRACEPOINT)
        out.append(Probe("raw tracepoints", ok, d + " (sched exec/fork/exit, raw_syscalls fallback)"))
        attr = struct.pack("<IIII", RINGBUF, 0, 0, 4096)
        fd, err = _bpf(BPF_MAP_CREATE, attr)
        out.append(Probe("ring buffer", fd >= 0, "BPF_MAP_TYPE_RINGBUF creates" if fd >= 0
                         else os.strerror(err)))
        if btf is not None:
            fid = _func_id(btf, "do_sys_openat2")
            ok, d = _prog(TRACING, TRACE_FENTRY, fid)
            out.append(Probe("trampolines (fentry)", ok, d if ok else f"refused: {d}; "
                             "no fentry/fexit/fmod_ret"))
            lid = _func_id(btf, "bpf_lsm_file_open")
            ok, d = _prog(LSM, LSM_MAC, lid) if lid else (False, "no bpf_lsm_* hooks in BTF")
            out.append(Probe("BPF LSM", ok, d if ok else f"refused: {d}; prevention uses "
                             "sched exec kills, fanotify permission marks and cgroup programs"))
    out.append(_cgroup2())
    out.append(_fanotify(root))
    kp = Path("/sys/kernel/tracing/kprobe_events").exists() or Path(
        "/sys/kernel/debug/tracing/kprobe_events").exists()
    out.append(Probe("kprobes", kp, "kprobe_events present" if kp else "not in this kernel "
                     "(CONFIG_KPROBES unset): not used"))
    return out


def _cgroup2() -> Probe:
    st = os.statvfs("/sys/fs/cgroup") if os.path.isdir("/sys/fs/cgroup") else None
    if st is not None:
        buf = (ct.c_long * 32)()
        if _libc.statfs(b"/sys/fs/cgroup", buf) == 0 and buf[0] == CGROUP2_MAGIC:
            return Probe("cgroup2", True, "/sys/fs/cgroup is the unified hierarchy")
    have = "cgroup2" in Path("/proc/filesystems").read_text()
    return Probe("cgroup2", have, "/sys/fs/cgroup is not cgroup2; `mount -t cgroup2 none DIR` "
                 "gives the unified root" if have else "no cgroup2 filesystem in this kernel")


def _fanotify(root: bool) -> Probe:
    if not root:
        return Probe("fanotify", False, "needs CAP_SYS_ADMIN")
    res = []
    for label, flags in (("notify+DFID_NAME", FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME),
                         ("permission events", FAN_CLASS_CONTENT)):
        fd = _libc.syscall(SYS_FANOTIFY_INIT, flags, os.O_RDONLY)
        if fd >= 0:
            os.close(fd)
            res.append(f"{label} ok")
        else:
            res.append(f"{label}: {os.strerror(ct.get_errno())}")
    return Probe("fanotify", all(r.endswith("ok") for r in res), ", ".join(res))
