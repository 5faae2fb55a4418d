"""The ctypes mirrors in jibril_rules/sensor/layout.py match bpf/jibril_events.h as clang
lays it out (compiled through bcc), and the header's bit numbers match jibril_rules.core.vocab."""

from __future__ import annotations

import ctypes as ct
import os

import pytest

from jibril_rules.core.vocab import FILE_ACTIONS, FLOW_FLAGS
from jibril_rules.sensor import layout as L


def test_header_constants_match_vocab() -> None:
    c = L.constants()
    for i, a in enumerate(FILE_ACTIONS):
        assert c[f"JB_FA_{a.upper()}"] == i
    for i, f in enumerate(FLOW_FLAGS):
        assert c[f"JB_FF_{f.upper()}"] == i
    assert c["JB_FA_ALL"] == (1 << len(FILE_ACTIONS)) - 1
    assert c["JB_PATH_MAX"] == L.PATH_MAX == 255
    assert c["JB_ARGS_SIZE"] == L.ARGS_SIZE and c["JB_DNS_MAX"] == L.DNS_MAX
    assert (c["JB_EV_EXEC"], c["JB_EV_FORK"], c["JB_EV_EXIT"], c["JB_EV_FILE"],
            c["JB_EV_FDIO"], c["JB_EV_FLOW"], c["JB_EV_DNS"]) == (
        L.EV_EXEC, L.EV_FORK, L.EV_EXIT, L.EV_FILE, L.EV_FDIO, L.EV_FLOW, L.EV_DNS)
    assert c["JB_NSENSORS"] == len(L.SENSORS) and c["JB_NSTATS"] == L.NSTATS
    for name in ("RELATIVE", "NONCANON", "TRUNCATED", "SILENT", "PASSED", "ARGS_TRUNC", "CHDIR"):
        assert c[f"JB_F_{name}"] == getattr(L, f"F_{name}")
    assert c["JB_AT_FDCWD"] == L.AT_FDCWD
    assert (c["JB_FD_FILE"], c["JB_FD_DNS"]) == (L.FD_FILE, L.FD_DNS)
    assert c["JB_FNV_OFFSET"] == L.FNV_OFFSET and c["JB_FNV_PRIME"] == L.FNV_PRIME
    mask = sum(1 << c[f"JB_FA_{a.upper()}"] for a in (
        "fasync", "flock", "fsync", "llseek", "mmap", "read", "write", "truncate", "close"))
    assert "JB_FA_FD_MASK" in (L.bpf_dir() / L.HEADER).read_text() and mask


def test_fnv_reference_values() -> None:
    assert L.fnv1a(b"") == 0xCBF29CE484222325
    assert L.fnv1a(b"a") == 0xAF63DC4C8601EC8C


def _bcc_types() -> dict[str, type[ct.Structure]]:
    if os.geteuid() != 0:
        pytest.skip("needs root to compile through bcc")
    from jibril_rules.sensor.bccload import SensorUnavailable, import_bcc
    try:
        bcc = import_bcc()
    except SensorUnavailable as e:
        pytest.skip(str(e))
    src = [f'#include "{L.HEADER}"']
    for name in L.MIRRORS:
        src.append(f"BPF_ARRAY(lay_{name}, struct {name}, 1);")
    b = bcc.BPF(text="\n".join(src).encode(), cflags=[f"-I{L.bpf_dir()}"])
    try:
        return {name: b[f"lay_{name}".encode()].Leaf for name in L.MIRRORS}
    finally:
        b.cleanup()


def _flatten(t: type[ct.Structure], base: int = 0, prefix: str = "") -> list[tuple[str, int, int]]:
    out = []
    for fname, ftype, *_ in t._fields_:
        off = getattr(t, fname).offset + base
        if isinstance(ftype, type) and issubclass(ftype, ct.Structure):
            out.extend(_flatten(ftype, off, prefix + fname + "."))
        else:
            out.append((prefix + fname, off, ct.sizeof(ftype)))
    return out


def test_layout_matches_clang() -> None:
    clang = _bcc_types()
    for name, mirror in L.MIRRORS.items():
        c = clang[name]
        assert ct.sizeof(c) == ct.sizeof(mirror), name
        ours = [(n.lstrip("_"), o, s) for n, o, s in _flatten(mirror)]
        theirs = [(n.lstrip("_"), o, s) for n, o, s in _flatten(c)]
        # bcc names anonymous padding differently; compare named fields by offset/size
        assert [x for x in ours if not x[0].startswith("pad")] == \
            [x for x in theirs if not x[0].startswith("pad")], name
