"""ctypes mirrors of bpf/jibril_events.h (checked against clang by tests/test_sensor_layout.py).

Integer constants (#define JB_*) are read from the header itself, so C and Python share one
definition; the record structs are mirrored here by hand.
"""

from __future__ import annotations

import ctypes as ct

from ..core.kheader import HEADER, PROGRAM, bpf_dir, const, constants
from ..core.vocab import FILE_ACTIONS, FLOW_FLAGS

__all__ = ["HEADER", "PROGRAM", "bpf_dir", "const", "constants"]  # the parser: core/kheader.py
LEGACY_PROGRAM = "legacy.bpf.c"  # the previous syscall-tracepoint design (bench comparison)

PATH_MAX = const("JB_PATH_MAX")
ARGS_SIZE = const("JB_ARGS_SIZE")
DNS_MAX = const("JB_DNS_MAX")

EV_EXEC, EV_FORK, EV_EXIT, EV_FILE, EV_FDIO, EV_FLOW, EV_DNS, EV_EXEC2, EV_OBJ = (
    const(f"JB_EV_{n}") for n in ("EXEC", "FORK", "EXIT", "FILE", "FDIO", "FLOW", "DNS", "EXEC2",
                                  "OBJ"))
SENSORS = ("exec", "proc", "file", "fdio", "net", "dns")  # JB_S_* order
NSTATS = const("JB_NSTATS")  # seen, sent, lost


def read_stats(bpf: object, sensors: tuple[str, ...] = SENSORS) -> dict[str, dict[str, int]]:
    """The per-CPU `stats` map of a loaded program (JB_S_* x seen/sent/lost), summed over CPUs."""
    st = bpf[b"stats"]  # type: ignore[index]
    out: dict[str, dict[str, int]] = {}
    for name in sensors:
        i = SENSORS.index(name)
        vals = [int(sum(st[ct.c_int(i * NSTATS + k)])) for k in range(NSTATS)]
        out[name] = {"seen": vals[0], "sent": vals[1], "lost": vals[2]}
    return out
F_RELATIVE, F_NONCANON, F_TRUNCATED, F_SILENT, F_PASSED, F_ARGS_TRUNC, F_CHDIR = (
    const(f"JB_F_{n}") for n in ("RELATIVE", "NONCANON", "TRUNCATED", "SILENT", "PASSED",
                                 "ARGS_TRUNC", "CHDIR"))
FD_FILE, FD_DNS = const("JB_FD_FILE"), const("JB_FD_DNS")
F_PREVENTED, F_WOULD, F_CWD_TRUNC = (const(f"JB_F_{n}") for n in ("PREVENTED", "WOULD", "CWD_TRUNC"))
PREVENT_KILL, PREVENT_DENY = const("JB_PREVENT_KILL"), const("JB_PREVENT_DENY")
MODE_MONITOR, MODE_ENFORCE = const("JB_MODE_MONITOR"), const("JB_MODE_ENFORCE")
AT_FDCWD = -100


class Hdr(ct.Structure):
    _fields_ = [("type", ct.c_uint32), ("tgid", ct.c_uint32), ("tid", ct.c_uint32),
                ("uid", ct.c_uint32), ("ts", ct.c_uint64), ("comm", ct.c_char * 16)]


class PathKey(ct.Structure):
    _fields_ = [("prefixlen", ct.c_uint32), ("gen", ct.c_uint8), ("path", ct.c_char * PATH_MAX)]


class FileEvent(ct.Structure):
    _fields_ = [("h", Hdr), ("actions", ct.c_uint32), ("flags", ct.c_uint32),
                ("dfd", ct.c_int32), ("ret", ct.c_int32), ("mask", ct.c_uint32),
                ("_pad", ct.c_uint32), ("file_id", ct.c_uint64), ("pk", PathKey)]


class ExecEvent(ct.Structure):
    _fields_ = [("h", Hdr), ("flags", ct.c_uint32), ("args_len", ct.c_uint32),
                ("argc", ct.c_uint32), ("ppid_hint", ct.c_uint32), ("pk", PathKey),
                ("args", ct.c_uint8 * ARGS_SIZE)]


class Exec2Event(ct.Structure):
    _fields_ = [("h", Hdr), ("flags", ct.c_uint32), ("args_len", ct.c_uint32),
                ("ppid_hint", ct.c_uint32), ("prevent", ct.c_uint32), ("exe_ino", ct.c_uint64),
                ("exe_dev", ct.c_uint32), ("ppid", ct.c_uint32), ("pk", PathKey),
                ("cwd", ct.c_char * PATH_MAX), ("args", ct.c_uint8 * ARGS_SIZE)]


class ObjEvent(ct.Structure):
    _fields_ = [("h", Hdr), ("actions", ct.c_uint32), ("flags", ct.c_uint32),
                ("mask", ct.c_uint32), ("fd", ct.c_int32), ("ino", ct.c_uint64), ("pk", PathKey)]


class DVal(ct.Structure):
    _fields_ = [("tag", ct.c_uint32), ("mask", ct.c_uint32), ("hash_len", ct.c_uint64),
                ("mnt", ct.c_uint64)]


class FSeen(ct.Structure):
    _fields_ = [("dentry", ct.c_uint64), ("seen", ct.c_uint32), ("_pad", ct.c_uint32)]


class Prevent(ct.Structure):
    _fields_ = [("recipe", ct.c_uint32), ("action", ct.c_uint32)]


class Cfg2(ct.Structure):
    _fields_ = [("file_any", ct.c_uint32), ("file_tables", ct.c_uint32),
                ("exec_any", ct.c_uint32), ("fb", ct.c_uint32), ("prevent", ct.c_uint32),
                ("fbmask", ct.c_uint32)]


class ProcEvent(ct.Structure):
    _fields_ = [("h", Hdr), ("child", ct.c_uint32), ("code", ct.c_int32)]


class FdioEvent(ct.Structure):
    _fields_ = [("h", Hdr), ("actions", ct.c_uint32), ("fd", ct.c_int32),
                ("file_id", ct.c_uint64)]


class FlowEvent(ct.Structure):
    _fields_ = [("h", Hdr), ("flags", ct.c_uint32), ("family", ct.c_uint16),
                ("proto", ct.c_uint16), ("lport", ct.c_uint16), ("rport", ct.c_uint16),
                ("_pad", ct.c_uint32), ("laddr", ct.c_uint8 * 16), ("raddr", ct.c_uint8 * 16)]


class DnsEvent(ct.Structure):
    _fields_ = [("h", Hdr), ("len", ct.c_uint32), ("_pad", ct.c_uint32),
                ("data", ct.c_uint8 * DNS_MAX)]


class HKey(ct.Structure):
    _fields_ = [("hash", ct.c_uint64), ("gen", ct.c_uint32), ("_pad", ct.c_uint32)]


class CidrKey(ct.Structure):
    _fields_ = [("prefixlen", ct.c_uint32), ("gen", ct.c_uint8), ("family", ct.c_uint8),
                ("_pad", ct.c_uint8 * 2), ("addr", ct.c_uint8 * 16)]


class PortKey(ct.Structure):
    _fields_ = [("port", ct.c_uint16), ("gen", ct.c_uint8), ("remote", ct.c_uint8)]


class Cfg(ct.Structure):
    _fields_ = [("file_any", ct.c_uint32), ("file_tables", ct.c_uint32),
                ("exec_any", ct.c_uint32), ("net_any", ct.c_uint32),
                ("net_tables", ct.c_uint32), ("_pad", ct.c_uint32)]


class Ctl(ct.Structure):
    _fields_ = [("gen", ct.c_uint32), ("self_tgid", ct.c_uint32)]


class FdKey(ct.Structure):
    _fields_ = [("tgid", ct.c_uint32), ("fd", ct.c_int32)]


class FdVal(ct.Structure):
    _fields_ = [("file_id", ct.c_uint64), ("mask", ct.c_uint32), ("seen", ct.c_uint32),
                ("kind", ct.c_uint32), ("_pad", ct.c_uint32)]


class Owner(ct.Structure):
    _fields_ = [("tgid", ct.c_uint32), ("uid", ct.c_uint32), ("comm", ct.c_char * 16),
                ("flags", ct.c_uint32), ("ended", ct.c_uint32)]


class ListenKey(ct.Structure):
    _fields_ = [("family", ct.c_uint16), ("port", ct.c_uint16)]


# C struct name -> mirror, for the layout test.
MIRRORS: dict[str, type[ct.Structure]] = {
    "jb_hdr": Hdr, "jb_pathkey": PathKey, "jb_file_event": FileEvent,
    "jb_exec_event": ExecEvent, "jb_proc_event": ProcEvent, "jb_fdio_event": FdioEvent,
    "jb_flow_event": FlowEvent, "jb_dns_event": DnsEvent, "jb_hkey": HKey,
    "jb_cidr_key": CidrKey, "jb_port_key": PortKey, "jb_cfg": Cfg, "jb_ctl": Ctl,
    "jb_fd_key": FdKey, "jb_fd_val": FdVal, "jb_owner": Owner, "jb_listen_key": ListenKey,
    "jb_exec2_event": Exec2Event, "jb_obj_event": ObjEvent, "jb_dval": DVal,
    "jb_fseen": FSeen, "jb_prevent": Prevent, "jb_cfg2": Cfg2,
}
RECORDS: dict[int, type[ct.Structure]] = {
    EV_EXEC: ExecEvent, EV_FORK: ProcEvent, EV_EXIT: ProcEvent, EV_FILE: FileEvent,
    EV_FDIO: FdioEvent, EV_FLOW: FlowEvent, EV_DNS: DnsEvent, EV_EXEC2: Exec2Event,
    EV_OBJ: ObjEvent,
}

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a(data: bytes) -> int:
    """The kernel's key hash for file_exact / file_base (FNV-1a 64)."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def hkey(h: int, gen: int) -> int:
    """8-byte map key of the new program: the hash with the generation in its low bit."""
    return (h & ~1) | gen


def actions_of(mask: int) -> list[str]:
    return [a for i, a in enumerate(FILE_ACTIONS) if mask >> i & 1]


def flags_of(mask: int) -> dict[str, bool]:
    return {f: bool(mask >> i & 1) for i, f in enumerate(FLOW_FLAGS)}


# ---- cgroup network mechanism (bpf/jibril_cgroup.bpf.c) ----
CGROUP_PROGRAM = "jibril_cgroup.bpf.c"
FF_DENIED, FF_WOULD_DENY = 16, 17
MAX_DENY = 64


class DenyCfg(ct.Structure):
    _fields_ = [("rules", ct.c_uint64), ("enforce", ct.c_uint64), ("any_cidr", ct.c_uint64),
                ("any_port", ct.c_uint64), ("netns_cookie", ct.c_uint64),
                ("domains", ct.c_uint64)]


QNAME_KEY = 64


class QnameKey(ct.Structure):
    _fields_ = [("prefixlen", ct.c_uint32), ("name", ct.c_uint8 * QNAME_KEY)]


MIRRORS["jb_deny_cfg"] = DenyCfg
MIRRORS["jb_qname_key"] = QnameKey


def qname_wire(domain: str) -> bytes:
    """A domain in DNS wire format, lowercase, with the root byte (block_dom's key data)."""
    labels = [p for p in domain.strip().strip(".").lower().encode("idna").split(b".") if p]
    return b"".join(bytes([len(p)]) + p for p in labels) + b"\0"

