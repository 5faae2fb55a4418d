"""What the file mechanism marks: the MarkPlan built from the kernel tables, and the
`prevent: deny` rules (DenyFile) with the verdict they give (Prevent)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.kernel_tables import KernelTables
from .fanotify_abi import MARK_ACTION_MASK


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
