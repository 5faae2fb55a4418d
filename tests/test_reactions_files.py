"""File helpers under attack (issue 7 findings 1 and 2): symlink-swap races and FIFOs."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from pathlib import Path

from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef
from jibril_rules.reactions.files import FileError, FileOps

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2


def _swapper(a: Path, b: Path, stop: threading.Event, count: list[int]) -> None:
    while not stop.is_set():
        if _libc.renameat2(AT_FDCWD, bytes(a), AT_FDCWD, bytes(b), RENAME_EXCHANGE) == 0:
            count[0] += 1


def _race(tmp_path: Path, seconds: float, work: object, before: object = None) -> tuple[Path, Path, int]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "d").mkdir()
    (root / "l").symlink_to(outside)  # swapped with d again and again
    if before is not None:
        before(root)  # type: ignore[operator]
    stop, count = threading.Event(), [0]
    t = threading.Thread(target=_swapper, args=(root / "d", root / "l", stop, count))
    t.start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            work(root)  # type: ignore[operator]
    finally:
        stop.set()
        t.join()
    return root, outside, count[0]


def test_write_file_never_lands_outside_the_root_during_a_symlink_swap(tmp_path: Path) -> None:
    ok = refused = 0
    n = [0]

    def write(root: Path) -> None:
        nonlocal ok, refused
        ops = FileOps(str(root), (str(root),))
        n[0] += 1
        try:
            ops.write(str(root / "d" / f"f{n[0]}"), "x")
            ok += 1
        except FileError:
            refused += 1

    root, outside, swaps = _race(tmp_path, 1.5, write)
    assert swaps > 100 and ok > 0 and refused > 0, (swaps, ok, refused)
    assert list(outside.iterdir()) == []
    real = root / "d" if (root / "d").is_dir() and not (root / "d").is_symlink() else root / "l"
    assert len(list(real.iterdir())) == ok


def test_remove_dir_never_deletes_outside_the_root_during_a_symlink_swap(tmp_path: Path) -> None:
    removed = [0]
    real_fd: list[int] = []

    def setup(root: Path) -> None:  # before the swapping starts
        outside = root.parent / "outside"
        (outside / "victim").mkdir()
        (outside / "victim" / "precious").write_text("keep")
        real_fd.append(os.open(root / "d", os.O_RDONLY | os.O_DIRECTORY))

    def remove(root: Path) -> None:
        try:  # recreate the victim in the real directory, whatever its name is now
            os.mkdir("victim", dir_fd=real_fd[0])
        except FileExistsError:
            pass
        try:
            if FileOps(str(root), (str(root),)).remove_dir(str(root / "d" / "victim")):
                removed[0] += 1
        except FileError:
            pass

    root, outside, swaps = _race(tmp_path, 1.5, remove, setup)
    os.close(real_fd[0])
    assert swaps > 100 and removed[0] > 0, (swaps, removed)
    assert (outside / "victim" / "precious").read_text() == "keep"


def test_fifo_and_devices_never_block_a_worker(tmp_path: Path) -> None:
    fifo = tmp_path / "authorized_keys"
    os.mkfifo(fifo)
    cfg = ReactionConfig(state_dir=str(tmp_path / "s"), temp_root=str(tmp_path), timeout_ms=500,
                         log_to_python=False)
    code = f"""function process(d) {{
        Info(JSON.stringify(ReadFile("{fifo}")), Errno());
        Info(WriteFile("{fifo}", "x"), Errno());
        Info(JSON.stringify(ReadFile("/dev/zero")), Errno());
        Info(ReadFile("/etc/hostname").length > 0);
    }}"""
    t0 = time.monotonic()
    with ReactionRuntime(cfg) as rt:
        (rec,) = rt.run_now(RecipeRef("k", "fifo"), [ReactionSpec("js", code)], {})
    assert time.monotonic() - t0 < 3
    assert rec.status == "ok", rec.error
    assert rec.logs[0].startswith('INFO: "" ReadFile') and "not a regular file" in rec.logs[0]
    assert rec.logs[1].startswith("INFO: -1 WriteFile")
    assert "not a regular file" in rec.logs[2]


def test_no_helper_starts_after_the_deadline(tmp_path: Path) -> None:
    cfg = ReactionConfig(state_dir=str(tmp_path / "s"), temp_root=str(tmp_path), timeout_ms=300,
                         log_to_python=False)
    code = "function process(d) { const t = Date.now(); while (Date.now() - t < 10000) DataGet('k'); }"
    t0 = time.monotonic()
    with ReactionRuntime(cfg) as rt:
        (rec,) = rt.run_now(RecipeRef("k", "late"), [ReactionSpec("js", code)], {})
    assert rec.status == "timeout" and time.monotonic() - t0 < 3
