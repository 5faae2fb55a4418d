"""The one registry of event fields: name, type, event kinds, kernel visibility, extractor.

docs/fields.md is generated from this table (`jibril docs`), so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .vocab import EXECUTION, FILE_ACCESS, MECHANISMS, NETWORK_PEERS


class FType(str, Enum):
    STR = "string"
    INT = "int"
    IP = "ip"
    STRLIST = "list[string]"
    INTLIST = "list[int]"

    @property
    def is_list(self) -> bool:
        return self in (FType.STRLIST, FType.INTLIST)

    @property
    def scalar(self) -> FType:
        return {FType.STRLIST: FType.STR, FType.INTLIST: FType.INT}.get(self, self)


FILE, EXEC, NET = FILE_ACCESS, EXECUTION, NETWORK_PEERS
ALL_KINDS = frozenset(MECHANISMS)


@dataclass(frozen=True)
class Field:
    name: str
    type: FType
    kinds: frozenset[str]
    kernel: str  # how the kernel prefilter sees it: "" (not at all), path, dir, basename, ...
    extract: Callable[[dict[str, Any]], Any]
    doc: str


def _get(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def f(ev: dict[str, Any]) -> Any:
        cur: Any = ev
        for k in keys:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(k)
        return cur
    return f


def _parent(key: str) -> Callable[[dict[str, Any]], Any]:
    def f(ev: dict[str, Any]) -> Any:
        anc = (ev.get("background") or {}).get("ancestry") or []
        if len(anc) >= 2 and isinstance(anc[-2], dict):
            return anc[-2].get(key)
        return None
    return f


def _ancestry(key: str) -> Callable[[dict[str, Any]], Any]:
    def f(ev: dict[str, Any]) -> Any:
        anc = (ev.get("background") or {}).get("ancestry") or []
        return [a.get(key) for a in anc if isinstance(a, dict) and a.get(key) is not None]
    return f


def _flags(ev: dict[str, Any]) -> Any:
    fl = (ev.get("flow") or {}).get("flags") or {}
    if isinstance(fl, dict):
        return [k for k, v in fl.items() if v]
    return list(fl) if isinstance(fl, list) else None


PK = ALL_KINDS
FK = frozenset({FILE, EXEC})
_F: list[Field] = [
    Field("event.mechanism", FType.STR, PK, "kind", _get("mechanism"),
          "file_access, execution or network_peers"),
    Field("process.exe", FType.STR, PK, "exec_path", _get("process", "exe"),
          "absolute path of the process image"),
    Field("process.cmd", FType.STR, PK, "", _get("process", "cmd"), "full command line"),
    Field("process.args", FType.STR, PK, "", _get("process", "args"),
          "arguments (without argv[0]) joined by spaces"),
    Field("process.comm", FType.STR, PK, "", _get("process", "comm"), "kernel task name (15 chars)"),
    Field("process.pid", FType.INT, PK, "", _get("process", "pid"), "process id"),
    Field("process.ppid", FType.INT, PK, "", _get("process", "ppid"), "parent process id"),
    Field("process.uid", FType.INT, PK, "", _get("process", "uid"), "user id"),
    Field("process.loader", FType.STR, PK, "", _get("process", "loader"), "ELF interpreter"),
    Field("process.prev_exe", FType.STR, PK, "", _get("process", "prev_exe"),
          "image before the last execve"),
    Field("parent.exe", FType.STR, PK, "", _parent("exe"), "parent's image (ancestry[-2])"),
    Field("parent.cmd", FType.STR, PK, "", _parent("cmd"), "parent's command line"),
    Field("parent.args", FType.STR, PK, "", _parent("args"), "parent's arguments"),
    Field("parent.comm", FType.STR, PK, "", _parent("comm"), "parent's task name"),
    Field("parent.pid", FType.INT, PK, "", _parent("pid"), "parent's pid"),
    Field("ancestry[*].exe", FType.STRLIST, PK, "", _ancestry("exe"),
          "images of every ancestor, oldest first, the process itself last"),
    Field("ancestry[*].cmd", FType.STRLIST, PK, "", _ancestry("cmd"), "command lines of the ancestry"),
    Field("ancestry[*].comm", FType.STRLIST, PK, "", _ancestry("comm"), "task names of the ancestry"),
    Field("ancestry[*].pid", FType.INTLIST, PK, "", _ancestry("pid"), "pids of the ancestry"),
    Field("file.file", FType.STR, FK, "path", _get("file", "file"), "absolute path of the file"),
    Field("file.dir", FType.STR, FK, "dir", _get("file", "dir"), "directory holding the file"),
    Field("file.basename", FType.STR, FK, "basename", _get("file", "basename"), "file name"),
    Field("file.actions", FType.STRLIST, FK, "actions", _get("file", "actions"),
          "file actions seen (open, read, write, ..., execve)"),
    Field("flow.proto", FType.STR, frozenset({NET}), "", _get("flow", "proto"), "tcp, udp or icmp"),
    Field("flow.ip_version", FType.INT, frozenset({NET}), "", _get("flow", "ip_version"), "4 or 6"),
    Field("flow.remote.address", FType.IP, frozenset({NET}), "remote_addr",
          _get("flow", "remote", "address"), "remote IP address"),
    Field("flow.remote.port", FType.INT, frozenset({NET}), "remote_port",
          _get("flow", "remote", "port"), "remote port"),
    Field("flow.remote.names", FType.STRLIST, frozenset({NET}), "",
          _get("flow", "remote", "names"), "DNS names the remote address was resolved from"),
    Field("flow.local.address", FType.IP, frozenset({NET}), "local_addr",
          _get("flow", "local", "address"), "local IP address"),
    Field("flow.local.port", FType.INT, frozenset({NET}), "local_port",
          _get("flow", "local", "port"), "local port"),
    Field("flow.flags", FType.STRLIST, frozenset({NET}), "", _flags,
          "flow flags that are set (ingress, egress, outgoing, started, ...)"),
]
FIELDS: dict[str, Field] = {f.name: f for f in _F}
