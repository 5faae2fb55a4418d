"""Ring-buffer records -> raw events in the schema of docs/design.md."""

from __future__ import annotations

import ctypes as ct
import os
import time
import uuid
from collections import Counter, OrderedDict
from typing import Any

from ..core.kernel_tables import KernelTables
from ..core.vocab import FILE_ACTION_BIT
from ..runtime.kernel_model import KernelModel
from . import layout as L
from .flows import DnsCache, FlowBook, flow_json
from .procs import Clock, ProcessTable

MAX_FILES = 65536
OPEN = 1 << FILE_ACTION_BIT["open"]
CLOSE = 1 << FILE_ACTION_BIT["close"]
EXECVE = 1 << FILE_ACTION_BIT["execve"]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def file_json(path: str, actions: list[str]) -> dict[str, Any]:
    d, b = os.path.split(path)
    return {"file": path, "dir": d or "/", "basename": b, "actions": actions}


class Assembler:
    """Turns records into raw events; keeps the process table, fds, flows and DNS names."""

    def __init__(self, tables: KernelTables | None = None) -> None:
        self.procs = ProcessTable()
        self.clock = Clock()
        self.dns = DnsCache()
        self.flows = FlowBook()
        self.fds: dict[tuple[int, int], tuple[str, int]] = {}  # (tgid, fd) -> (path, mask)
        self.files: OrderedDict[int, tuple[str, int]] = OrderedDict()  # file_id -> same
        self.model = KernelModel(tables or KernelTables())
        self.counts: Counter[str] = Counter()
        self.net_deny: tuple[int, ...] = ()  # cgroup deny rule bit -> recipe index
        self.dns_listeners: list[Any] = []  # f(pairs): NetBlockDomain follows later answers

    def set_tables(self, tables: KernelTables) -> None:
        self.model = KernelModel(tables)

    # -- dispatch --------------------------------------------------------------------
    def handle(self, data: int, size: int) -> dict[str, Any] | None:
        """data/size: a ring-buffer record (address and length, as bcc passes them)."""
        kind = ct.c_uint32.from_address(data).value
        cls = L.RECORDS.get(kind)
        if cls is None or size < ct.sizeof(cls):
            self.counts["bad_record"] += 1
            return None
        rec = cls.from_buffer_copy(ct.string_at(data, ct.sizeof(cls)))
        return self.handle_record(kind, rec)

    def handle_record(self, kind: int, rec: Any) -> dict[str, Any] | None:
        if kind == L.EV_FILE:
            return self._file(rec)
        if kind == L.EV_FDIO:
            return self._fdio(rec)
        if kind == L.EV_EXEC:
            return self._exec(rec)
        if kind == L.EV_EXEC2:
            return self._exec2(rec)
        if kind == L.EV_OBJ:
            return self._obj(rec)
        if kind == L.EV_FLOW:
            return self._flow(rec)
        if kind == L.EV_FORK:
            self.procs.fork(rec.h.tgid, rec.child, self.clock.iso(rec.h.ts))
        elif kind == L.EV_EXIT:
            self.procs.exit(rec.h.tgid, rec.code, self.clock.iso(rec.h.ts))
            self.flows.drop(rec.h.tgid)
            for k in [k for k in self.fds if k[0] == rec.h.tgid]:
                del self.fds[k]
        elif kind == L.EV_DNS:
            pairs = self.dns.feed(bytes(rec.data[:rec.len]))
            for f in self.dns_listeners:
                if pairs:
                    f(pairs)
        return None

    # -- events ------------------------------------------------------------------------
    def _event(self, h: L.Hdr, mechanism: str, **parts: Any) -> dict[str, Any]:
        tgid = h.tgid
        chain = self.procs.ancestry(tgid)
        proc = chain[-1] if chain else self.procs.get(tgid, h.uid, _decode(h.comm))
        ev: dict[str, Any] = {
            "uuid": str(uuid.uuid4()), "timestamp": self.clock.iso(h.ts),
            "mechanism": mechanism, "process": proc.to_json()}
        ev.update(parts)
        ev["background"] = {"ancestry": [p.to_json() for p in chain],
                            "flows": self.flows.background(tgid), "files": {"root": {}}}
        self.counts[mechanism] += 1
        return ev

    def _dir_of(self, tgid: int, dfd: int) -> str:
        """The directory a relative path starts from: the tracked cwd, or the dirfd's path."""
        if dfd == L.AT_FDCWD:
            return self.procs.get(tgid).cwd or _readlink(f"/proc/{tgid}/cwd")
        known = self.fds.get((tgid, dfd))
        return known[0] if known else _readlink(f"/proc/{tgid}/fd/{dfd}")

    def _resolve(self, tgid: int, path: str, dfd: int, flags: int) -> str:
        if flags & L.F_RELATIVE:
            base = self._dir_of(tgid, dfd)
            if not base:
                self.counts["unresolved"] += 1
                return path
            path = os.path.join(base, path)
        return os.path.normpath(path) if path.startswith("/") else path

    def _file(self, ev: L.FileEvent) -> dict[str, Any] | None:
        h = ev.h
        path = _decode(ev.pk.path)
        if ev.flags & L.F_CHDIR:
            if not path:  # fchdir(fd)
                path = self._dir_of(h.tgid, ev.dfd)
            elif not path.startswith("/"):
                path = os.path.join(self._dir_of(h.tgid, L.AT_FDCWD), path)
            if path:
                self.procs.chdir(h.tgid, os.path.normpath(path))
            return None
        mask = ev.mask
        if ev.flags & (L.F_RELATIVE | L.F_NONCANON):
            path = self._resolve(h.tgid, path, ev.dfd, ev.flags)
            mask = self.model.file_mask(path)  # the exact kernel decision on the real path
        if ev.actions & OPEN and ev.ret >= 0:
            self.fds[(h.tgid, ev.ret)] = (path, mask)
            if ev.file_id:
                self.files[ev.file_id] = (path, mask)
                while len(self.files) > MAX_FILES:
                    self.files.popitem(last=False)
        if ev.flags & L.F_SILENT or not ev.actions & mask:
            return None
        return self._event(h, "file_access", file=file_json(path, L.actions_of(ev.actions)))

    def _fdio(self, ev: L.FdioEvent) -> dict[str, Any] | None:
        h = ev.h
        key = (h.tgid, ev.fd)
        if ev.actions & CLOSE:
            path, mask = self.fds.pop(key, ("", 0))
        else:
            path, mask = self.fds.get(key, ("", 0))
        path, mask = self.files.get(ev.file_id, (path, mask))  # also right after dup2
        if not path:
            path = _readlink(f"/proc/{h.tgid}/fd/{ev.fd}")
            mask = self.model.file_mask(path) if path else 0
        if not ev.actions & mask:
            return None
        return self._event(h, "file_access", file=file_json(path, L.actions_of(ev.actions)))

    def _exec(self, ev: L.ExecEvent) -> dict[str, Any] | None:
        h = ev.h
        path = _decode(ev.pk.path)
        if ev.flags & (L.F_RELATIVE | L.F_NONCANON):
            path = self._resolve(h.tgid, path, L.AT_FDCWD, ev.flags)
            passed = self.model.passes_file(path, "execve") or self.model.t.exec_any
        else:
            passed = bool(ev.flags & L.F_PASSED)
        raw = bytes(ev.args[:min(ev.args_len, L.ARGS_SIZE)])
        argv = tuple(_decode(a) for a in raw.split(b"\0")[:ev.argc])
        self.procs.exec(h.tgid, h.uid, _decode(h.comm), path, argv or (path,))
        if not passed:
            return None
        return self._event(h, "execution", file=file_json(path, ["execve"]))

    def _exec2(self, ev: L.Exec2Event) -> dict[str, Any] | None:
        """Exec from sched_process_exec: exe and cwd from dentry walks, argv from the new mm."""
        h = ev.h
        path = _decode(ev.pk.path)
        raw = bytes(ev.args[:min(ev.args_len, L.ARGS_SIZE)])
        if raw.endswith(b"\0"):
            raw = raw[:-1]
        argv = tuple(_decode(a) for a in raw.split(b"\0")) if raw else ()
        cwd = "" if ev.flags & L.F_CWD_TRUNC else _decode(ev.cwd)
        if ev.flags & L.F_TRUNCATED:
            path = _readlink(f"/proc/{h.tgid}/exe") or path
            passed = self.model.passes_file(path, "execve") or self.model.t.exec_any
        else:
            passed = bool(ev.flags & L.F_PASSED)
        self.procs.exec(h.tgid, h.uid, _decode(h.comm), path, argv or (path,), cwd, ev.ppid)
        if not passed:
            return None
        out = self._event(h, "execution", file=file_json(path, ["execve"]))
        if ev.flags & (L.F_PREVENTED | L.F_WOULD):
            enforced = bool(ev.flags & L.F_PREVENTED)
            self.counts["prevented" if enforced else "would_prevent"] += 1
            out["kernel_prevent"] = {"recipe_index": int(ev.prevent), "action": "kill",
                                     "enforced": enforced}
        return out

    def _obj(self, ev: L.ObjEvent) -> dict[str, Any] | None:
        """A file action from the fallback, on the object's absolute path (dentry walk)."""
        h = ev.h
        path = _decode(ev.pk.path)
        mask = ev.mask
        if ev.flags & L.F_TRUNCATED:
            path = _readlink(f"/proc/{h.tgid}/fd/{ev.fd}") or path
            mask = self.model.file_mask(path)
        if not ev.actions & mask:
            return None
        return self._event(h, "file_access", file=file_json(path, L.actions_of(ev.actions)))

    def file_action(self, tgid: int, path: str, actions: int, ts_ns: int = 0) -> dict[str, Any] | None:
        """A file action decoded by a userspace mechanism (marks): same event shape."""
        if not actions & self.model.file_mask(path):
            return None
        h = L.Hdr()
        h.type, h.tgid, h.tid = L.EV_FILE, tgid, tgid
        p = self.procs.get(tgid)
        h.uid, h.comm = p.uid, p.comm.encode()[:15]
        h.ts = ts_ns or time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        # an exec refused by a permission mark never reaches sched_process_exec: it is
        # reported here, as the execution it would have been (the caller's process)
        mech = "execution" if actions == EXECVE else "file_access"
        return self._event(h, mech, file=file_json(path, L.actions_of(actions)))

    def _flow(self, ev: L.FlowEvent) -> dict[str, Any] | None:
        flow = flow_json(ev, self.dns)
        self.flows.add(ev.h.tgid, flow)
        out = self._event(ev.h, "network_peers", flow=flow)
        if ev.flags & (1 << L.FF_DENIED | 1 << L.FF_WOULD_DENY) and 0 < ev._pad <= len(self.net_deny):
            enforced = bool(ev.flags & 1 << L.FF_DENIED)
            self.counts["prevented" if enforced else "would_prevent"] += 1
            out["kernel_prevent"] = {"recipe_index": self.net_deny[ev._pad - 1],
                                     "action": "deny", "enforced": enforced}
        return out
