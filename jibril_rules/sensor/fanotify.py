"""File mechanism: fanotify marks compiled from the recipes' exact paths and directory prefixes.

    fw = FanotifyWatch(on_event)                # on_event(pid, path, actions, prevent)
    fw.start(plan)                              # plan = MarkPlan.from_tables(tables, deny)
    fw.poll(100)                                # notification events -> on_event
    fw.set_enforce(True); fw.reload(plan); fw.close()

Two fanotify groups. The notification group (FAN_REPORT_DFID_NAME) reports open, read,
write, close, create, unlink and rename with the directory and the name. The permission group
(FAN_CLASS_CONTENT) carries FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM on the `prevent: deny` objects
only, answered FAN_DENY in enforce mode (open()/execve() fail with EPERM) and FAN_ALLOW in
monitor mode; a watchdog allows any event not answered within `answer_deadline_s`, and closing
the group (also when the agent dies) makes the kernel allow everything pending.

Marks are on inodes, not on paths: a process in another mount namespace (a container, an
`unshare --mount`) that reaches the same inode through any path is covered, and reported with
the agent's path for it. Directory prefixes are marked recursively; a new subdirectory is marked
when its FAN_CREATE arrives (a file created inside it before that is not seen). An exact path
that does not exist yet is watched through its parent directory and marked when it appears.
"""

from __future__ import annotations

import ctypes as ct
import os
import select
import stat
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.kernel_tables import KernelTables
from ..core.vocab import FILE_ACTION_BIT
from .mechanism import POLL_BUDGET_S

# <linux/fanotify.h>
FAN_ACCESS, FAN_MODIFY, FAN_CLOSE_WRITE, FAN_CLOSE_NOWRITE = 0x1, 0x2, 0x8, 0x10
FAN_OPEN, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_CREATE, FAN_DELETE = 0x20, 0x40, 0x80, 0x100, 0x200
FAN_OPEN_EXEC, FAN_Q_OVERFLOW = 0x1000, 0x4000
FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM = 0x10000, 0x40000
FAN_EVENT_ON_CHILD, FAN_ONDIR = 0x08000000, 0x40000000
FAN_CLOEXEC, FAN_NONBLOCK, FAN_CLASS_CONTENT = 0x1, 0x2, 0x4
FAN_UNLIMITED_QUEUE, FAN_UNLIMITED_MARKS = 0x10, 0x20
FAN_REPORT_DFID_NAME = 0x400 | 0x800
FAN_MARK_ADD, FAN_MARK_REMOVE, FAN_MARK_FLUSH = 0x1, 0x2, 0x80
FAN_ALLOW, FAN_DENY = 0x1, 0x2
FAN_NOFD = -1
INFO_DFID_NAME, INFO_DFID, INFO_FID = 2, 3, 1
AT_FDCWD = -100
META = struct.Struct("=IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid

# fanotify bit -> Jibril file actions (what marks can see; the rest needs a syscall hook)
ACTIONS_OF = ((FAN_OPEN, "open"), (FAN_ACCESS, "read"), (FAN_MODIFY, "write"),
              (FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE, "close"), (FAN_CREATE, "create"),
              (FAN_DELETE, "unlink"), (FAN_MOVED_FROM | FAN_MOVED_TO, "rename"),
              (FAN_OPEN_EXEC, "execve"))
MARK_ACTIONS = frozenset({a for _, a in ACTIONS_OF} | {"truncate", "link"})
MARK_ACTION_MASK = sum(1 << FILE_ACTION_BIT[a] for a in MARK_ACTIONS)
_PER_FILE = FAN_OPEN | FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_OPEN_EXEC
_DIR_ENTRY = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO
MAX_DIRS = 65536  # directories marked per bundle; beyond: counted as `widened` (not seen)

EventCallback = Callable[[int, str, list[str], "Prevent | None"], None]


@dataclass(frozen=True)
class Prevent:
    recipe: str
    enforced: bool  # False: monitor mode, "would prevent"
    action: str  # "open" or "execve"


@dataclass(frozen=True)
class DenyFile:
    """One `prevent: deny` recipe on exact file paths (open and/or exec)."""

    recipe: str
    paths: tuple[str, ...]
    actions: tuple[str, ...] = ("open", "execve")
    enforce: bool = True


@dataclass(frozen=True)
class MarkPlan:
    exact: tuple[tuple[str, int], ...] = ()  # path -> action mask
    dirs: tuple[tuple[str, int], ...] = ()  # directory prefix ("/x/") -> mask, recursive
    name_prefix: tuple[tuple[str, int], ...] = ()  # "/x/pre" -> mask: names under /x/
    deny: tuple[DenyFile, ...] = ()
    unserved: tuple[str, ...] = ()  # table entries marks cannot serve (need a syscall hook)

    @staticmethod
    def from_tables(t: KernelTables, deny: tuple[DenyFile, ...] = ()) -> MarkPlan:
        exact: list[tuple[str, int]] = []
        dirs: list[tuple[str, int]] = []
        pre: list[tuple[str, int]] = []
        unserved: list[str] = []
        for path, mask in t.file_exact:
            exact.append((path, mask))
        for prefix, mask in t.file_prefix:
            (dirs if prefix.endswith("/") else pre).append((prefix, mask))
        for base, _ in t.file_base:
            unserved.append(f"basename {base}")
        if t.file_any:
            unserved.append("any file")
        for _, mask in (*t.file_exact, *t.file_prefix):
            if mask & ~MARK_ACTION_MASK:
                unserved.append("actions marks cannot see (mmap, fsync, flock, llseek, "
                                "fasync)")
                break
        return MarkPlan(tuple(exact), tuple(dirs), tuple(pre), deny, tuple(unserved))


def _mask_of(actions: int) -> int:
    """Jibril action mask -> fanotify event bits for a per-file inode mark."""
    m = FAN_MODIFY if actions & (1 << FILE_ACTION_BIT["truncate"]) else 0
    if actions & (1 << FILE_ACTION_BIT["link"]):
        m |= FAN_CREATE
    for bit, a in ACTIONS_OF:
        if actions >> FILE_ACTION_BIT[a] & 1:
            m |= bit
    return m


@dataclass
class _Stats:
    events: int = 0
    perm_events: int = 0
    denied: int = 0
    would_deny: int = 0
    watchdog_allowed: int = 0
    overflows: int = 0
    marks: int = 0
    widened: int = 0
    errors: int = 0
    last_error: str = ""
    slowest_answer_us: int = 0


@dataclass
class _Watch:
    """What one marked directory reports: names -> mask (exact) or name prefix rules."""

    names: dict[str, int] = field(default_factory=dict)
    all_mask: int = 0  # every child (directory prefix)
    name_prefixes: list[tuple[str, int]] = field(default_factory=list)
    recursive: bool = False


class FanotifyWatch:
    def __init__(self, on_event: EventCallback, answer_deadline_s: float = 0.2) -> None:
        self.on_event = on_event
        self.deadline_s = answer_deadline_s
        self.libc = ct.CDLL("libc.so.6", use_errno=True)
        self.libc.fanotify_mark.argtypes = [ct.c_int, ct.c_uint, ct.c_uint64, ct.c_int,
                                            ct.c_char_p]
        self.nfd = self.pfd = -1
        self.plan = MarkPlan()
        self.watches: dict[str, _Watch] = {}
        self.files: dict[str, int] = {}  # exact path -> mask
        self.deny_ino: dict[tuple[int, int], tuple[DenyFile, str]] = {}
        self.stats = _Stats()
        self._pending: dict[int, float] = {}
        self._plock = threading.Lock()
        self._queue: deque[tuple[int, str, list[str], Prevent | None]] = deque()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._mount_fds: dict[bytes, int] = {}
        self._marked: dict[tuple[int, str], int] = {}  # (group fd, path) -> mask added
        self.self_pid = os.getpid()
        self.answer_hook: Callable[[], None] | None = None  # tests: simulate a slow responder
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # decisions queued

    # -- lifecycle ---------------------------------------------------------------------
    def _init(self, flags: int) -> int:
        fd = self.libc.fanotify_init(flags, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        if fd < 0:
            err = ct.get_errno()
            raise OSError(err, f"fanotify_init: {os.strerror(err)}")
        return int(fd)

    def start(self, plan: MarkPlan) -> None:
        base = FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS
        self.nfd = self._init(base | FAN_REPORT_DFID_NAME)
        self.pfd = self._init(base | FAN_CLASS_CONTENT)
        self._stop.clear()
        for target in (self._respond_loop, self._watchdog_loop):
            th = threading.Thread(target=target, name=f"fanotify-{target.__name__}", daemon=True)
            th.start()
            self._threads.append(th)
        self.reload(plan)

    def close(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(2)
        self._threads = []
        for fd in (self.nfd, self.pfd):  # closing a group allows every pending event
            if fd >= 0:
                os.close(fd)
        self.nfd = self.pfd = -1
        with self._plock:
            self._pending.clear()
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        for fd in self._mount_fds.values():
            os.close(fd)
        self._mount_fds.clear()

    # -- marks -------------------------------------------------------------------------
    def _mark(self, fd: int, flags: int, mask: int, path: str) -> bool:
        if self.libc.fanotify_mark(fd, flags, mask, AT_FDCWD, os.fsencode(path)) != 0:
            err = ct.get_errno()
            if err != 2:  # ENOENT: watched through its parent, marked when it appears
                self.stats.errors += 1
                self.stats.last_error = f"fanotify_mark {path}: {os.strerror(err)}"
            return False
        self.stats.marks += 1
        key = (fd, path)
        self._marked[key] = self._marked.get(key, 0) | mask
        return True

    def reload(self, plan: MarkPlan) -> None:
        """Replace the marks without a gap: new marks are added (masks OR) first, then the
        bits no longer wanted are removed. Runs on the poll thread, so no notification is
        judged against half-built state; the responder sees the old or the new deny set."""
        old = self._marked
        self._marked = {}
        old_deny = self.deny_ino
        self.plan = plan
        self.watches, self.files, self.deny_ino = {}, {}, dict(old_deny)
        new_deny: dict[tuple[int, int], tuple[DenyFile, str]] = {}
        self.stats.marks = self.stats.widened = 0
        for path, mask in plan.exact:
            self.files[path] = self.files.get(path, 0) | mask
            w = self.watches.setdefault(os.path.dirname(path) or "/", _Watch())
            w.names[os.path.basename(path)] = w.names.get(os.path.basename(path), 0) | mask
        for prefix, mask in plan.dirs:
            w = self.watches.setdefault(prefix.rstrip("/") or "/", _Watch())
            w.all_mask |= mask
            w.recursive = True
        for prefix, mask in plan.name_prefix:
            d, name = os.path.split(prefix)
            self.watches.setdefault(d or "/", _Watch()).name_prefixes.append((name, mask))
        for path, mask in self.files.items():
            self._mark(self.nfd, FAN_MARK_ADD, _mask_of(mask), path)
        for d, w in list(self.watches.items()):
            self._mark_dir(d, w, 0)
        for rule in plan.deny:
            for p in rule.paths:
                got = self._mark_deny(rule, p)
                if got is not None:
                    new_deny[got[0]] = got[1]
        self.deny_ino = new_deny
        for (fd, path), mask in old.items():
            extra = mask & ~self._marked.get((fd, path), 0)
            if extra:
                self.libc.fanotify_mark(fd, FAN_MARK_REMOVE, extra, AT_FDCWD, os.fsencode(path))

    def _dir_mask(self, w: _Watch) -> int:
        m = _DIR_ENTRY | FAN_ONDIR
        child = w.all_mask
        for _, pm in w.name_prefixes:
            child |= pm
        if child:
            m |= _mask_of(child) | FAN_EVENT_ON_CHILD
        return m

    def _mark_dir(self, d: str, w: _Watch, depth: int) -> None:
        self._mark(self.nfd, FAN_MARK_ADD, self._dir_mask(w), d)
        subdirs: list[tuple[str, int]] = []
        if w.recursive:
            subdirs = [(x, w.all_mask) for x in self._subdirs(d)]
        for name, pm in w.name_prefixes:  # directories matching a name prefix: whole tree
            for top in self._subdirs(d, recurse=False):
                if os.path.basename(top).startswith(name):
                    subdirs += [(x, pm) for x in (top, *self._subdirs(top))]
        for s, mask in subdirs:
            if len(self.watches) >= MAX_DIRS:
                self.stats.widened += 1
                return
            sw = self.watches.setdefault(s, _Watch())
            sw.all_mask |= mask
            sw.recursive = True
            self._mark(self.nfd, FAN_MARK_ADD, self._dir_mask(sw), s)

    @staticmethod
    def _subdirs(d: str, recurse: bool = True) -> list[str]:
        out: list[str] = []
        try:
            if not recurse:
                return [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
            for root, dirs, _ in os.walk(d):
                out += [os.path.join(root, x) for x in dirs]
                if len(out) > MAX_DIRS:
                    break
        except OSError:
            pass
        return out

    def _mark_deny(self, rule: DenyFile, path: str
                   ) -> tuple[tuple[int, int], tuple[DenyFile, str]] | None:
        m = (FAN_OPEN_PERM if "open" in rule.actions else 0) | \
            (FAN_OPEN_EXEC_PERM if "execve" in rule.actions else 0)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            return None  # permission marks only on regular files a rule names
        watch = self.watches.setdefault(os.path.dirname(path) or "/", _Watch())
        watch.names.setdefault(os.path.basename(path), 0)
        self._mark(self.nfd, FAN_MARK_ADD, self._dir_mask(watch), os.path.dirname(path) or "/")
        if st is not None and self._mark(self.pfd, FAN_MARK_ADD, m, path):
            key = (st.st_dev, st.st_ino)
            self.deny_ino = {**self.deny_ino, key: (rule, path)}
            return key, (rule, path)
        return None

    def set_enforce(self, enforce: bool, recipe: str | None = None) -> None:
        """monitor <-> enforce, live: the next permission event is answered the new way."""
        self.deny_ino = {k: (DenyFile(r.recipe, r.paths, r.actions, enforce)
                             if recipe is None or r.recipe == recipe else r, p)
                         for k, (r, p) in self.deny_ino.items()}
        self.plan = MarkPlan(self.plan.exact, self.plan.dirs, self.plan.name_prefix,
                             tuple(DenyFile(r.recipe, r.paths, r.actions, enforce)
                                   if recipe is None or r.recipe == recipe else r
                                   for r in self.plan.deny), self.plan.unserved)

    # -- permission events (own thread: answered whatever the main loop does) ------------
    def _answer(self, fd: int, response: int) -> bool:
        with self._plock:
            t0 = self._pending.pop(fd, None)
            if t0 is None:
                return False  # the watchdog (or the responder) answered it already
            try:
                os.write(self.pfd, struct.pack("=iI", fd, response))
            except OSError as e:
                self.stats.errors += 1
                self.stats.last_error = f"fanotify response: {e}"
            os.close(fd)
        us = int((time.monotonic() - t0) * 1e6)
        self.stats.slowest_answer_us = max(self.stats.slowest_answer_us, us)
        return True

    def _respond_loop(self) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.pfd], [], [], 0.05)
                if not r:
                    continue
                buf = os.read(self.pfd, 8192)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                continue
            now = time.monotonic()
            evs: list[tuple[int, int, int]] = []
            off = 0
            while off + META.size <= len(buf):
                ln, _v, _r, _ml, mask, fd, pid = META.unpack_from(buf, off)
                off += ln or META.size
                if fd >= 0:
                    with self._plock:
                        self._pending[fd] = now
                    evs.append((mask, fd, pid))
            for mask, fd, pid in evs:
                self._decide(mask, fd, pid)

    def _decide(self, mask: int, fd: int, pid: int) -> None:
        self.stats.perm_events += 1
        verdict, prevent, path = FAN_ALLOW, None, ""
        try:
            if self.answer_hook is not None:
                self.answer_hook()
            st = os.fstat(fd)
            hit = self.deny_ino.get((st.st_dev, st.st_ino))
            action = "execve" if mask & FAN_OPEN_EXEC_PERM else "open"
            if hit is not None and action in hit[0].actions:
                rule, path = hit
                prevent = Prevent(rule.recipe, rule.enforce, action)
                verdict = FAN_DENY if rule.enforce else FAN_ALLOW
        except OSError:
            pass
        if not self._answer(fd, verdict):
            return  # the watchdog allowed it already
        if prevent is not None:
            if prevent.enforced:
                self.stats.denied += 1
            else:
                self.stats.would_deny += 1
            self._queue.append((pid, path, [prevent.action], prevent))
            try:
                os.write(self.wake_w, b"\0")
            except OSError:
                pass

    def _watchdog_loop(self) -> None:
        """Allow every permission event older than the deadline: no access waits forever."""
        while not self._stop.wait(self.deadline_s / 4):
            now = time.monotonic()
            with self._plock:
                late = [fd for fd, t in self._pending.items() if now - t > self.deadline_s]
            for fd in late:
                if self._answer(fd, FAN_ALLOW):
                    self.stats.watchdog_allowed += 1

    # -- notification events -----------------------------------------------------------
    def poll(self, timeout_ms: int = 0) -> int:
        """Read what is queued (waiting up to timeout_ms), call on_event; returns events."""
        n = 0
        try:
            os.read(self.wake_r, 4096)
        except OSError:
            pass
        while self._queue:
            self.on_event(*self._queue.popleft())
            n += 1
        if self.nfd < 0:
            return n
        try:
            r, _, _ = select.select([self.nfd], [], [], timeout_ms / 1000)
            if not r:
                return n
            end = time.monotonic() + POLL_BUDGET_S
            while time.monotonic() < end:  # a flood waits in the fanotify queue for next turn
                try:
                    buf = os.read(self.nfd, 65536)
                except BlockingIOError:
                    break
                if not buf:
                    break
                n += self._parse(buf)
        except OSError as e:
            self.stats.errors += 1
            self.stats.last_error = f"fanotify read: {e}"
        while self._queue:
            self.on_event(*self._queue.popleft())
            n += 1
        return n

    def _parse(self, buf: bytes) -> int:
        n = off = 0
        while off + META.size <= len(buf):
            ln, _v, _r, mlen, mask, fd, pid = META.unpack_from(buf, off)
            if ln < META.size:
                break
            if fd >= 0:
                os.close(fd)
            if mask & FAN_Q_OVERFLOW:
                self.stats.overflows += 1
            info = buf[off + mlen:off + ln]
            off += ln
            if pid == self.self_pid:
                continue  # the agent's own accesses (as the kernel programs exclude it)
            dpath, name = self._dfid_name(info)
            if not dpath:
                continue
            n += self._handle(mask, pid, dpath, name)
        return n

    def _dfid_name(self, info: bytes) -> tuple[str, str]:
        i = 0
        while i + 4 <= len(info):
            itype, _pad, ilen = struct.unpack_from("=BBH", info, i)
            if ilen < 4:
                break
            if itype in (INFO_DFID_NAME, INFO_DFID, INFO_FID):
                fsid = info[i + 4:i + 12]
                hbytes, htype = struct.unpack_from("=Ii", info, i + 12)
                handle = info[i + 20:i + 20 + hbytes]
                name = ""
                if itype == INFO_DFID_NAME:
                    raw = info[i + 20 + hbytes:i + ilen]
                    name = raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
                return self._handle_path(fsid, hbytes, htype, handle), name
            i += ilen
        return "", ""

    def _handle_path(self, fsid: bytes, hbytes: int, htype: int, handle: bytes) -> str:
        mfd = self._mount_fd(fsid)
        if mfd < 0:
            return ""
        fh = ct.create_string_buffer(struct.pack("=Ii", hbytes, htype) + handle)
        fd = self.libc.open_by_handle_at(mfd, fh, os.O_PATH | os.O_CLOEXEC)
        if fd < 0:
            return ""
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""
        finally:
            os.close(fd)

    def _mount_fd(self, fsid: bytes) -> int:
        fd = self._mount_fds.get(fsid)
        if fd is not None:
            return fd
        for d in self.watches:  # any marked directory on that filesystem will do
            try:
                cand = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue
            buf = ct.create_string_buffer(120)
            if self.libc.fstatfs(cand, buf) == 0 and buf.raw[56:64] == fsid:
                self._mount_fds[fsid] = cand
                return cand
            os.close(cand)
        return -1

    def _handle(self, mask: int, pid: int, dpath: str, name: str) -> int:
        path = os.path.join(dpath, name) if name and name != "." else dpath
        w = self.watches.get(dpath)
        want = self.files.get(path, 0)
        if w is not None:
            want |= w.all_mask | w.names.get(name, 0)
            for pre, pm in w.name_prefixes:
                if name.startswith(pre):
                    want |= pm
        if mask & FAN_ONDIR and mask & (FAN_CREATE | FAN_MOVED_TO) and w is not None:
            self._follow_dir(w, name, path)
        if not mask & FAN_ONDIR and mask & (FAN_CREATE | FAN_MOVED_TO) and path in self.files:
            self._mark(self.nfd, FAN_MARK_ADD, _mask_of(self.files[path]), path)  # appeared
        for rule in self.plan.deny:
            if path in rule.paths and mask & (FAN_CREATE | FAN_MOVED_TO):
                self._mark_deny(rule, path)
        if mask & FAN_ONDIR:
            return 0
        actions = [a for bit, a in ACTIONS_OF if mask & bit and want >> FILE_ACTION_BIT[a] & 1]
        for bit, a in ((FAN_MODIFY, "truncate"), (FAN_CREATE, "link")):
            # marks cannot tell a truncate from a write, or a link from a create: report both
            # when the recipe watches them (sound: never drop a match; may over-report)
            if mask & bit and want >> FILE_ACTION_BIT[a] & 1:
                actions.append(a)
        if not actions:
            return 0
        self.stats.events += 1
        self.on_event(pid, path, actions, None)
        return 1

    def _follow_dir(self, parent: _Watch, name: str, path: str) -> None:
        """A new subdirectory under a recursive watch (or matching a name prefix): mark it."""
        mask = parent.all_mask if parent.recursive else 0
        for pre, pm in parent.name_prefixes:
            if name.startswith(pre):
                mask |= pm
        if not mask or len(self.watches) >= MAX_DIRS:
            return
        sw = self.watches.setdefault(path, _Watch())
        sw.all_mask |= mask
        sw.recursive = True
        self._mark_dir(path, sw, 1)
