"""The file helpers: ReadFile, WriteFile, Stat, CreateTempDir, RemoveDir."""

from __future__ import annotations

from typing import Any

from .datastore import js_string
from .files import FileError
from .helper_state import HelperFailure, HelperState


class FileHelpers(HelperState):
    """The file helpers: ReadFile, WriteFile, Stat, CreateTempDir, RemoveDir."""

    # -- files -----------------------------------------------------------------------
    def h_ReadFile(self, args: list[Any]) -> Any:
        try:
            return self.s.files.read(js_string(args[0]) if args else "")
        except FileError as exc:
            raise HelperFailure(str(exc), "") from None

    def h_WriteFile(self, args: list[Any]) -> Any:
        if len(args) < 2:
            raise HelperFailure("WriteFile needs a path and content")
        path, content = js_string(args[0]), js_string(args[1])
        try:
            self.s.files.check_writable(path)
            if self.monitor and not self.s.files.in_temp(path):
                self._dry = True
                return 0
            # monitor mode writes only beneath the temp root (resolved by fd, not by name)
            self.s.files.write(path, content, temp_only=self.monitor)
        except FileError as exc:
            raise HelperFailure(str(exc)) from None
        return 0

    def h_Stat(self, args: list[Any]) -> Any:
        info = self.s.files.stat(js_string(args[0]) if args else "")
        if info is None:
            self.errno = f"Stat {args[0] if args else ''}: no such file or not accessible"
        return info

    def h_CreateTempDir(self, args: list[Any]) -> Any:
        pattern = js_string(args[0]) if args and args[0] is not None else ""
        try:
            return self.s.files.create_temp_dir(pattern)
        except FileError as exc:
            raise HelperFailure(str(exc), "") from None

    def h_RemoveDir(self, args: list[Any]) -> Any:
        path = js_string(args[0]) if args else ""
        try:
            real = self.s.files.check_removable(path)
            if self.monitor and real not in self.s.files.created_dirs:
                self._dry = True
                return 0
            return 0 if self.s.files.remove_dir(real, self.deadline) else 1
        except FileError as exc:
            raise HelperFailure(str(exc)) from None
