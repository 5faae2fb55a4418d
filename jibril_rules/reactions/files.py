"""File helpers: confined writes, temporary directories under the temp root, Stat."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from datetime import UTC, datetime
from typing import Any

MAX_READ_BYTES = 16 * 1024 * 1024


class FileError(Exception):
    """A refused or failed file operation (its message becomes Errno())."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class FileOps:
    def __init__(self, temp_root: str, writable_roots: tuple[str, ...]) -> None:
        self.temp_root = os.path.realpath(temp_root)
        self.writable_roots = writable_roots
        self.created_dirs: set[str] = set()

    def read(self, path: str) -> str:
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_READ_BYTES + 1)
        except OSError as exc:
            raise FileError(f"ReadFile {path}: {exc.strerror or exc}") from None
        if len(data) > MAX_READ_BYTES:
            raise FileError(f"ReadFile {path}: larger than {MAX_READ_BYTES} bytes")
        return data.decode("utf-8", "replace")

    def check_writable(self, path: str) -> str:
        """The resolved path if writing there is allowed, else FileError."""
        if not path or not os.path.isabs(path):
            raise FileError(f"WriteFile {path!r}: path must be absolute")
        parent = os.path.realpath(os.path.dirname(path))
        target = os.path.join(parent, os.path.basename(path))
        if not any(_inside(parent, root) for root in self.writable_roots):
            raise FileError(f"WriteFile {path}: outside the writable roots "
                            f"({', '.join(self.writable_roots)})")
        return target

    def in_temp(self, path: str) -> bool:
        return _inside(os.path.realpath(os.path.dirname(path) or "/"), self.temp_root)

    def write(self, path: str, content: str) -> None:
        target = self.check_writable(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(target, flags, 0o600)
        except OSError as exc:
            raise FileError(f"WriteFile {path}: {exc.strerror or exc}") from None
        try:
            os.fchmod(fd, 0o600)
            data = content.encode("utf-8", "surrogatepass")
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
        except OSError:
            return None
        mtime = datetime.fromtimestamp(st.st_mtime, UTC).astimezone()
        return {"size": st.st_size, "mode": stat.filemode(st.st_mode),
                "modTime": mtime.isoformat(timespec="seconds"),
                "isDir": stat.S_ISDIR(st.st_mode)}

    def temp_path(self, pattern: str) -> str:
        if not pattern:
            pattern = "tmpdir-*"
        if "/" in pattern or pattern in (".", ".."):
            raise FileError(f"CreateTempDir {pattern!r}: pattern must not contain '/'")
        rand = secrets.token_hex(6)
        if "*" in pattern:
            head, _, tail = pattern.rpartition("*")
            name = head + rand + tail
        else:
            name = pattern + rand
        return os.path.join(self.temp_root, name)

    def create_temp_dir(self, pattern: str) -> str:
        for _ in range(8):
            path = self.temp_path(pattern)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError as exc:
                raise FileError(f"CreateTempDir: {exc.strerror or exc}") from None
            os.chmod(path, 0o700)
            self.created_dirs.add(path)
            return path
        raise FileError("CreateTempDir: could not find a free name")

    def check_removable(self, path: str) -> str:
        if not path or not os.path.isabs(path):
            raise FileError(f"RemoveDir {path!r}: path must be absolute")
        norm = os.path.normpath(path)
        real = os.path.realpath(norm)
        if real != norm or os.path.islink(norm):
            raise FileError(f"RemoveDir {path}: symbolic links are refused")
        if not _inside(real, self.temp_root) or real == self.temp_root:
            raise FileError(f"RemoveDir {path}: only subdirectories of {self.temp_root}")
        return real

    def remove_dir(self, path: str) -> bool:
        """True if removed, False if it did not exist."""
        real = self.check_removable(path)
        if not os.path.lexists(real):
            return False
        if not os.path.isdir(real):
            raise FileError(f"RemoveDir {path}: not a directory")
        try:
            shutil.rmtree(real)
        except OSError as exc:
            raise FileError(f"RemoveDir {path}: {exc.strerror or exc}") from None
        self.created_dirs.discard(real)
        return True
