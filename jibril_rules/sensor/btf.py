"""Kernel struct field offsets from the running kernel's BTF (/sys/kernel/btf/vmlinux).

The distribution's kernel headers do not describe the running kernel (on Debian 6.1 headers
with a 6.18 kernel, `file.f_path` is at 16 in the headers and 64 in the kernel), and bcc
compiles direct dereferences with the header offsets. So the BPF programs never dereference a
kernel struct: they read `u64` words at offsets computed here and passed as `-D` cflags.

    btf = Btf.load()
    btf.offset("file", "f_path.dentry")     # 72 on the development kernel
    cflags(btf)                             # ("-DOFF_FILE_F_PATH_DENTRY=72", ...)

Anonymous struct/union members are followed (`file.f_path` sits in one). Only what the sensor
needs is decoded: struct/union members, typedef/const/volatile chains, names.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

VMLINUX = Path("/sys/kernel/btf/vmlinux")
MAGIC = 0xEB9F

# BTF_KIND_*: how many bytes follow the 12-byte common header, per member (vlen) or fixed.
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT = range(1, 12)
_FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = range(12, 20)
_FIXED = {_INT: 4, _ARRAY: 12, _VAR: 4, _DECL_TAG: 4}
_PER_MEMBER = {_STRUCT: 12, _UNION: 12, _ENUM: 8, _FUNC_PROTO: 8, _DATASEC: 12, _ENUM64: 12}
_MODIFIERS = {_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG}


class BtfError(RuntimeError):
    """BTF is missing, malformed, or lacks a struct/field the sensor needs."""


@dataclass(frozen=True)
class Member:
    name: str
    type_id: int
    bit_offset: int


@dataclass(frozen=True)
class BtfType:
    kind: int
    name: str
    size_or_type: int  # size for struct/union/int, referenced type for ptr/typedef/...
    members: tuple[Member, ...] = ()


class Btf:
    """A parsed BTF blob: types by id, named structs/unions/typedefs by name."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 24:
            raise BtfError("BTF blob too short")
        magic, _ver, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
        if magic != MAGIC:
            raise BtfError(f"not BTF (magic {magic:#x})")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
        self._strs = data[hdr_len + str_off:hdr_len + str_off + str_len]
        self.types: list[BtfType] = [BtfType(0, "void", 0)]  # id 0 is void
        self.by_name: dict[tuple[int, str], int] = {}
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, st = struct.unpack_from("<III", data, pos)
            pos += 12
            kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
            members: tuple[Member, ...] = ()
            if kind in (_STRUCT, _UNION):
                ms = []
                for _ in range(vlen):
                    mn, mt, mo = struct.unpack_from("<III", data, pos)
                    pos += 12
                    ms.append(Member(self._str(mn), mt, mo & 0xFFFFFF if kflag else mo))
                members = tuple(ms)
            else:
                pos += _FIXED.get(kind, 0) + _PER_MEMBER.get(kind, 0) * vlen
            name = self._str(name_off)
            self.types.append(BtfType(kind, name, st, members))
            if name and kind in (_STRUCT, _UNION, _TYPEDEF):
                self.by_name.setdefault((kind, name), len(self.types) - 1)

    def _str(self, off: int) -> str:
        e = self._strs.find(b"\0", off)
        return self._strs[off:e].decode("ascii", "replace")

    @staticmethod
    @cache
    def load(path: str = str(VMLINUX)) -> Btf:
        try:
            return Btf(Path(path).read_bytes())
        except OSError as e:
            raise BtfError(f"cannot read {path}: {e.strerror}; the kernel needs "
                           "CONFIG_DEBUG_INFO_BTF=y") from e

    # -- queries -------------------------------------------------------------------------
    def resolve(self, tid: int) -> int:
        """Skip typedef/const/volatile/restrict/type_tag to the underlying type."""
        for _ in range(64):
            t = self.types[tid]
            if t.kind not in _MODIFIERS:
                return tid
            tid = t.size_or_type
        raise BtfError(f"type {tid}: modifier chain too long")

    def struct_id(self, name: str) -> int:
        for kind in (_STRUCT, _UNION):
            tid = self.by_name.get((kind, name))
            if tid is not None:
                return tid
        raise BtfError(f"struct {name} not in the kernel's BTF")

    def typedef_id(self, name: str) -> int:
        tid = self.by_name.get((_TYPEDEF, name))
        if tid is None:
            raise BtfError(f"typedef {name} not in the kernel's BTF")
        return tid

    def size(self, name: str) -> int:
        return self.types[self.struct_id(name)].size_or_type

    def _member(self, tid: int, name: str) -> tuple[int, int] | None:
        """(bit offset, type id) of `name` in struct/union tid, through anonymous members."""
        for m in self.types[tid].members:
            if m.name == name:
                return m.bit_offset, m.type_id
            if not m.name:
                inner = self.resolve(m.type_id)
                if self.types[inner].kind in (_STRUCT, _UNION):
                    hit = self._member(inner, name)
                    if hit is not None:
                        return m.bit_offset + hit[0], hit[1]
        return None

    def offset(self, struct_name: str, path: str) -> int:
        """Byte offset of a dotted field path ("f_path.dentry") inside `struct struct_name`."""
        tid = self.struct_id(struct_name)
        bits = 0
        for part in path.split("."):
            t = self.types[tid]
            if t.kind not in (_STRUCT, _UNION):
                raise BtfError(f"{struct_name}.{path}: {part!r} is not inside a struct")
            hit = self._member(tid, part)
            if hit is None:
                raise BtfError(f"struct {t.name or struct_name} has no field {part!r} "
                               f"(looking up {struct_name}.{path})")
            bits += hit[0]
            tid = self.resolve(hit[1])
        if bits % 8:
            raise BtfError(f"{struct_name}.{path} is a bitfield")
        return bits // 8


# The fields the BPF programs read, as (struct, dotted path). One source: the macro name is
# OFF_<STRUCT>_<PATH> with dots as underscores, upper case.
FIELDS: tuple[tuple[str, str], ...] = (
    ("task_struct", "pid"), ("task_struct", "tgid"), ("task_struct", "real_parent"),
    ("task_struct", "mm"), ("task_struct", "fs"), ("task_struct", "files"),
    ("task_struct", "exit_code"), ("task_struct", "signal"),
    ("mm_struct", "arg_start"), ("mm_struct", "arg_end"), ("mm_struct", "exe_file"),
    ("fs_struct", "pwd.dentry"), ("fs_struct", "pwd.mnt"),
    ("linux_binprm", "file"), ("linux_binprm", "filename"),
    ("file", "f_path.dentry"), ("file", "f_path.mnt"), ("file", "f_inode"),
    ("dentry", "d_name.name"), ("dentry", "d_name.hash_len"), ("dentry", "d_parent"),
    ("dentry", "d_inode"),
    ("inode", "i_ino"), ("inode", "i_sb"), ("super_block", "s_dev"),
    ("vfsmount", "mnt_root"), ("mount", "mnt"), ("mount", "mnt_parent"),
    ("mount", "mnt_mountpoint"),
    ("files_struct", "fdt"), ("fdtable", "fd"), ("fdtable", "max_fds"),
    ("pt_regs", "di"), ("pt_regs", "si"), ("pt_regs", "dx"), ("pt_regs", "r10"),
    ("pt_regs", "r8"), ("pt_regs", "orig_ax"),
)


def macro(struct_name: str, path: str) -> str:
    return f"OFF_{struct_name}_{path.replace('.', '_')}".upper()


def offsets(btf: Btf | None = None) -> dict[str, int]:
    """Every FIELDS offset by macro name (raises BtfError naming the missing field)."""
    b = btf or Btf.load()
    return {macro(s, p): b.offset(s, p) for s, p in FIELDS}


def cflags(btf: Btf | None = None) -> tuple[str, ...]:
    return tuple(f"-D{k}={v}" for k, v in offsets(btf).items())
