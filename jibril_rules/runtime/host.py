"""Host facts for a detection's `habitat` and `scenario` (Jibril's Base fields), read once.

Jibril fills `habitat.distro` and a host scenario `{hostname, ip, mac, os, arch}`; reactions
written for it may read them (Jibril's reaction.md lists both). The values never change while
the agent runs, so they are computed on first use and shared by every detection.
"""

from __future__ import annotations

import fcntl
import functools
import platform
import socket
import struct
from typing import Any

SIOCGIFADDR = 0x8915
# Go's GOARCH spelling, which Jibril reports
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _default_iface() -> str:
    """The interface of the IPv4 default route, from /proc/net/route ('' when none)."""
    for line in _read("/proc/net/route").splitlines()[1:]:
        cols = line.split()
        if len(cols) > 2 and cols[1] == "00000000":
            return cols[0]
    return ""


def _iface_ipv4(iface: str) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        raw = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", iface.encode()[:15]))
        return socket.inet_ntoa(raw[20:24])
    except OSError:
        return ""
    finally:
        s.close()


def os_release() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _read("/etc/os-release").splitlines():
        key, sep, val = line.partition("=")
        if sep:
            out[key.strip()] = val.strip().strip('"')
    return out


@functools.cache
def habitat() -> dict[str, Any]:
    rel = os_release()
    distro = {k: v for k, v in (("name", rel.get("ID", "")), ("version", rel.get("VERSION_ID", "")),
                                ("flavor", rel.get("VERSION_CODENAME", ""))) if v}
    return {"distro": distro} if distro else {}


@functools.cache
def scenario() -> tuple[dict[str, str], ...]:
    iface = _default_iface()
    mac = _read(f"/sys/class/net/{iface}/address").strip() if iface else ""
    machine = platform.machine()
    return ({"hostname": socket.gethostname(), "ip": _iface_ipv4(iface) if iface else "",
             "mac": mac, "os": "linux", "arch": _ARCH.get(machine, machine)},)
