"""File helpers: confined writes and removals, bounded reads, temp dirs, Stat.

Writes and removals never follow a path by name after checking it: a user who owns a
directory under the temp root could swap it for a symbolic link between the check and the
use (`renameat2(RENAME_EXCHANGE)`). The root is opened once, and the rest of the path is
resolved *relative to that directory fd* with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
(or, where openat2 is missing, one `O_NOFOLLOW` component at a time). Removal unlinks
relative to the opened parent, walking the tree by fd (`O_NOFOLLOW | O_DIRECTORY` at every
level) and stopping at the reaction's deadline.

Reads are bounded: regular files only (opened `O_NONBLOCK`, checked with `fstat` before
any read, so a FIFO or a device cannot park a worker) and at most `MAX_READ_BYTES`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import stat
import struct
import time
from datetime import UTC, datetime
from typing import Any

MAX_READ_BYTES = 16 * 1024 * 1024

_SYS_OPENAT2 = 437  # the same number on every Linux architecture
_RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x02, 0x04, 0x08
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_have_openat2: bool | None = None


class FileError(Exception):
    """A refused or failed file operation (its message becomes Errno())."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _openat2(dirfd: int, rel: str, flags: int, mode: int) -> int:
    if not flags & os.O_CREAT:
        mode = 0  # openat2 refuses a mode without O_CREAT (EINVAL)
    how = ctypes.create_string_buffer(struct.pack("QQQ", flags | os.O_CLOEXEC, mode, _RESOLVE), 24)
    fd = _libc.syscall(_SYS_OPENAT2, dirfd, rel.encode("utf-8", "surrogateescape"), how, 24)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return int(fd)


def open_beneath(dirfd: int, rel: str, flags: int, mode: int = 0o600) -> int:
    """Open `rel` under the directory `dirfd` without following any symbolic link and
    without leaving it (ELOOP / EXDEV otherwise)."""
    global _have_openat2
    if _have_openat2 is not False:
        try:
            return _openat2(dirfd, rel, flags, mode)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM) or _have_openat2:
                raise
            _have_openat2 = False  # seccomp or an old kernel: walk by hand
        else:
            _have_openat2 = True
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise OSError(errno.EXDEV, "path escapes its root", rel)
    cur = os.dup(dirfd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=cur)
            os.close(cur)
            cur = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=cur)
    finally:
        os.close(cur)


def _rmtree_at(dirfd: int, name: str, deadline: float | None) -> None:
    """Remove the directory `name` under `dirfd` and everything in it, by fd: every level is
    opened O_NOFOLLOW | O_DIRECTORY relative to its parent, so a symlink swapped in anywhere
    makes the walk fail instead of leaving the tree."""
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        with os.scandir(fd) as it:
            entries = list(it)
        for entry in entries:
            if deadline is not None and time.monotonic() > deadline:
                raise FileError("the reaction's time limit passed while removing")
            if entry.is_dir(follow_symlinks=False):
                _rmtree_at(fd, entry.name, deadline)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dirfd)


def _open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


class FileOps:
    def __init__(self, temp_root: str, writable_roots: tuple[str, ...]) -> None:
        self.temp_root = os.path.realpath(temp_root)
        self.writable_roots = writable_roots
        self.created_dirs: set[str] = set()

    # -- reads -----------------------------------------------------------------------
    def read(self, path: str) -> str:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise FileError(f"ReadFile {path}: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileError(f"ReadFile {path}: not a regular file (FIFOs, devices and "
                                "directories are refused)")
            if st.st_size > MAX_READ_BYTES:
                raise FileError(f"ReadFile {path}: larger than {MAX_READ_BYTES} bytes")
            chunks: list[bytes] = []
            total = 0
            while total <= MAX_READ_BYTES:
                chunk = os.read(fd, min(1 << 20, MAX_READ_BYTES + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError as exc:
            raise FileError(f"ReadFile {path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        if total > MAX_READ_BYTES:
            raise FileError(f"ReadFile {path}: larger than {MAX_READ_BYTES} bytes")
        return b"".join(chunks).decode("utf-8", "replace")

    # -- writes ----------------------------------------------------------------------
    def _locate(self, path: str, roots: tuple[str, ...], what: str) -> tuple[str, str]:
        """(root, path relative to it) for an absolute path lexically inside a root."""
        if not path or not os.path.isabs(path) or "\x00" in path:
            raise FileError(f"{what} {path!r}: path must be absolute")
        norm = os.path.normpath(path)
        for root in sorted(roots, key=len, reverse=True):
            if _inside(norm, root) and norm != root:
                return root, os.path.relpath(norm, root)
        raise FileError(f"{what} {path}: outside the writable roots ({', '.join(roots)})")

    def check_writable(self, path: str) -> str:
        """The normalised path if writing there is allowed, else FileError."""
        root, rel = self._locate(path, self.writable_roots, "WriteFile")
        return os.path.join(root, rel)

    def in_temp(self, path: str) -> bool:
        return _inside(os.path.normpath(path or "/"), self.temp_root)

    def write(self, path: str, content: str, temp_only: bool = False) -> None:
        """Write (0600) beneath the root the path is in; `temp_only`: only the temp root."""
        roots = (self.temp_root,) if temp_only else self.writable_roots
        root, rel = self._locate(path, roots, "WriteFile")
        data = content.encode("utf-8", "surrogatepass")
        try:
            rootfd = _open_dir(root)
        except OSError as exc:
            raise FileError(f"WriteFile {path}: {exc.strerror or exc}") from None
        try:
            fd = open_beneath(rootfd, rel, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY,
                              0o600)
        except OSError as exc:
            reason = "a symbolic link or a path outside the root" if exc.errno in (
                errno.ELOOP, errno.EXDEV) else (exc.strerror or str(exc))
            raise FileError(f"WriteFile {path}: {reason}") from None
        finally:
            os.close(rootfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileError(f"WriteFile {path}: not a regular file")
            os.ftruncate(fd, 0)
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            raise FileError(f"WriteFile {path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def stat(self, path: str) -> dict[str, Any] | None:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        mtime = datetime.fromtimestamp(st.st_mtime, UTC).astimezone()
        return {"size": st.st_size, "mode": stat.filemode(st.st_mode),
                "modTime": mtime.isoformat(timespec="seconds"),
                "isDir": stat.S_ISDIR(st.st_mode)}

    # -- temp dirs -------------------------------------------------------------------
    def temp_path(self, pattern: str) -> str:
        if not pattern:
            pattern = "tmpdir-*"
        if "/" in pattern or "\x00" in pattern or pattern in (".", ".."):
            raise FileError(f"CreateTempDir {pattern!r}: pattern must not contain '/'")
        rand = secrets.token_hex(6)
        if "*" in pattern:
            head, _, tail = pattern.rpartition("*")
            name = head + rand + tail
        else:
            name = pattern + rand
        return os.path.join(self.temp_root, name)

    def create_temp_dir(self, pattern: str) -> str:
        try:
            rootfd = _open_dir(self.temp_root)
        except OSError as exc:
            raise FileError(f"CreateTempDir: {exc.strerror or exc}") from None
        try:
            for _ in range(8):
                path = self.temp_path(pattern)
                try:
                    os.mkdir(os.path.basename(path), 0o700, dir_fd=rootfd)
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise FileError(f"CreateTempDir: {exc.strerror or exc}") from None
                os.chmod(os.path.basename(path), 0o700, dir_fd=rootfd, follow_symlinks=False)
                self.created_dirs.add(path)
                return path
        finally:
            os.close(rootfd)
        raise FileError("CreateTempDir: could not find a free name")

    # -- removal ---------------------------------------------------------------------
    def check_removable(self, path: str) -> str:
        if not path or not os.path.isabs(path) or "\x00" in path:
            raise FileError(f"RemoveDir {path!r}: path must be absolute")
        norm = os.path.normpath(path)
        if not _inside(norm, self.temp_root) or norm == self.temp_root:
            raise FileError(f"RemoveDir {path}: only subdirectories of {self.temp_root}")
        return norm

    def remove_dir(self, path: str, deadline: float | None = None) -> bool:
        """True if removed, False if it did not exist. Never leaves the temp root; stops
        (FileError) at `deadline` (monotonic), so a huge tree cannot hold a worker."""
        norm = self.check_removable(path)
        rel = os.path.relpath(norm, self.temp_root)
        parent_rel, name = os.path.split(rel)
        try:
            rootfd = _open_dir(self.temp_root)
        except OSError as exc:
            raise FileError(f"RemoveDir {path}: {exc.strerror or exc}") from None
        try:
            pfd = open_beneath(rootfd, parent_rel, os.O_RDONLY | os.O_DIRECTORY) if parent_rel \
                else os.dup(rootfd)
        except FileNotFoundError:
            return False
        except OSError as exc:
            reason = "symbolic links are refused" if exc.errno in (errno.ELOOP, errno.EXDEV) \
                else (exc.strerror or str(exc))
            raise FileError(f"RemoveDir {path}: {reason}") from None
        finally:
            os.close(rootfd)
        try:
            try:
                st = os.lstat(name, dir_fd=pfd)
            except FileNotFoundError:
                return False
            if stat.S_ISLNK(st.st_mode):
                raise FileError(f"RemoveDir {path}: symbolic links are refused")
            if not stat.S_ISDIR(st.st_mode):
                raise FileError(f"RemoveDir {path}: not a directory")
            _rmtree_at(pfd, name, deadline)
        except RecursionError:
            raise FileError(f"RemoveDir {path}: the tree is nested too deeply") from None
        except OSError as exc:
            raise FileError(f"RemoveDir {path}: {exc.strerror or exc}") from None
        finally:
            os.close(pfd)
        self.created_dirs.discard(norm)
        return True
