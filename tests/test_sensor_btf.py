"""The BTF reader (sensor/btf.py) against the running kernel's /sys/kernel/btf/vmlinux."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jibril_rules.sensor.btf import FIELDS, Btf, BtfError, cflags, macro, offsets

pytestmark = pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(),
                                reason="no /sys/kernel/btf/vmlinux")

# Measured on the development kernel (6.18): verified against stat and /proc by the live tests.
KNOWN_618 = {"OFF_FILE_F_PATH_DENTRY": 72, "OFF_DENTRY_D_NAME_NAME": 40,
             "OFF_DENTRY_D_PARENT": 24, "OFF_DENTRY_D_INODE": 48, "OFF_INODE_I_INO": 64,
             "OFF_FILE_F_INODE": 32, "OFF_TASK_STRUCT_FILES": 1824,
             "OFF_FILES_STRUCT_FDT": 32, "OFF_FDTABLE_FD": 8, "OFF_LINUX_BINPRM_FILE": 64}


def test_every_field_resolves_and_layout_facts_hold() -> None:
    b = Btf.load()
    off = offsets(b)
    assert len(off) == len(FIELDS)
    # struct path {vfsmount *mnt; dentry *dentry}, struct qstr {hash_len; name}
    assert off["OFF_FILE_F_PATH_DENTRY"] == off["OFF_FILE_F_PATH_MNT"] + 8
    assert off["OFF_DENTRY_D_NAME_NAME"] == off["OFF_DENTRY_D_NAME_HASH_LEN"] + 8
    assert off["OFF_FS_STRUCT_PWD_DENTRY"] == off["OFF_FS_STRUCT_PWD_MNT"] + 8
    assert off["OFF_TASK_STRUCT_TGID"] == off["OFF_TASK_STRUCT_PID"] + 4
    assert off["OFF_MM_STRUCT_ARG_END"] == off["OFF_MM_STRUCT_ARG_START"] + 8
    assert b.size("pt_regs") == 168 and off["OFF_PT_REGS_ORIG_AX"] == 120  # x86-64 ABI
    assert all(f.startswith("-DOFF_") for f in cflags(b))


def test_anonymous_members_are_followed() -> None:
    b = Btf.load()
    f = b.types[b.struct_id("file")]
    direct = {m.name for m in f.members}
    if "f_path" not in direct:  # 6.18: f_path sits in an anonymous union
        assert any(not m.name for m in f.members)
    assert b.offset("file", "f_path.dentry") == b.offset("file", "f_path") + 8


def test_known_offsets_of_the_development_kernel() -> None:
    if not os.uname().release.startswith("6.18."):
        pytest.skip(f"offsets measured on 6.18, this is {os.uname().release}")
    off = offsets()
    assert {k: off[k] for k in KNOWN_618} == KNOWN_618


def test_errors_name_what_is_missing() -> None:
    b = Btf.load()
    with pytest.raises(BtfError, match="no field 'nope'"):
        b.offset("file", "f_path.nope")
    with pytest.raises(BtfError, match="struct jb_no_such"):
        b.offset("jb_no_such", "x")
    with pytest.raises(BtfError, match="not BTF"):
        Btf(b"\0" * 32)
    assert macro("file", "f_path.dentry") == "OFF_FILE_F_PATH_DENTRY"
