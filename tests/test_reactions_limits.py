"""Adversarial review findings 5, 6, 7, 9, 10 (state dir), 13 (issue 7): every size is
capped, every failure is counted and reported, and one bad input fails one execution."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef
from jibril_rules.reactions.audit import repair_torn_tail


class _Records(logging.Handler):
    """Records of the reactions logger, whatever handlers or propagation others set up."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def reactions_log() -> Iterator[_Records]:
    logger = logging.getLogger("jibril_rules.reactions")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


SLOW = "function process(d) { const t = Date.now(); while (Date.now() - t < 300) {} }"


def _cfg(tmp_path: Path, **kw: object) -> ReactionConfig:
    base: dict[str, object] = {"state_dir": str(tmp_path / "state"), "temp_root": str(tmp_path),
                               "log_to_python": False}
    base.update(kw)
    return ReactionConfig(**base)  # type: ignore[arg-type]


def _one(rt: ReactionRuntime, code: str, event: dict[str, object] | None = None,
         ref: RecipeRef | None = None):  # type: ignore[no-untyped-def]
    (rec,) = rt.run_now(ref or RecipeRef("k", "lim"), [ReactionSpec("js", code)], event or {})
    return rec


@contextlib.contextmanager
def _tmpfs(path: Path, opts: str) -> Iterator[Path]:
    """A small tmpfs of our own (root): a full or read-only disk without touching others."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, f"jr-{uuid.uuid4().hex[:8]}", str(path)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_stop_drains_for_a_bounded_time_then_abandons_with_a_count(tmp_path: Path,
                                                                    reactions_log: _Records) -> None:
    rt = ReactionRuntime(_cfg(tmp_path, workers=2, drain_s=0.5))
    for i in range(40):
        assert rt.submit(RecipeRef("k", "slow"), [ReactionSpec("js", SLOW)], {"uuid": f"u{i}"})
    t0 = time.monotonic()
    rt.close()
    took = time.monotonic() - t0
    st = rt.stats()
    assert took < 3.5, took  # not the 6 s the queue needs
    assert st["abandoned"] >= 30 and st["ok"] + st["error"] + st["abandoned"] >= 40, st
    assert any("abandoned" in r.getMessage() for r in reactions_log.records)
    lines = [json.loads(x) for x in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    (shutdown,) = [x for x in lines if x.get("event") == "shutdown"]
    assert shutdown["abandoned"] + shutdown["terminated"] == st["abandoned"]


def test_audit_failures_are_counted_and_logged(tmp_path: Path, reactions_log: _Records) -> None:
    with ReactionRuntime(_cfg(tmp_path, audit_path="/dev/full")) as rt:
        for _ in range(15):
            assert _one(rt, "function process(d) { Info('x') }").status == "ok"
        assert rt.stats()["audit_errors"] == 15
    assert any("write failed" in r.getMessage() and "lost" in r.getMessage() for r in reactions_log.records)


def test_torn_last_line_is_repaired_on_start(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text('{"recipe":"a","status":"ok"}\n{"recipe":"b","sta')
    assert repair_torn_tail(str(audit)) == len('{"recipe":"b","sta')
    audit.write_text('{"recipe":"a","status":"ok"}\n{"recipe":"b","sta')
    with ReactionRuntime(_cfg(tmp_path, audit_path=str(audit))) as rt:
        _one(rt, "function process(d) {}")
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [x["recipe"] for x in lines] == ["a", "lim"]


def test_size_caps_on_values_lists_logs_and_audit_lines(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, max_value_bytes=4096, max_list_items=3, max_log_bytes=8192,
               max_log_lines=50, max_audit_line_bytes=16384, memory_mb=512, timeout_ms=20000)
    with ReactionRuntime(cfg) as rt:
        rec = _one(rt, """function process(d) {
            const big = 'x'.repeat(25 << 20);
            Info(DataSet('k', big), Errno());
            Info(DataSet('k', 'small'), DataGet('k'));
            for (let i = 0; i < 4; i++) Info('push', DataPush('l', i), Errno());
            for (let i = 0; i < 100; i++) Info(big.slice(0, 1 << 16));
        }""")
        st = rt.stats()
    assert rec.status == "ok", rec.error
    assert rec.logs[0].startswith("INFO: -1 DataSet: the value is larger than max_value_bytes (4096")
    assert rec.logs[1] == "INFO: 0 small"
    assert rec.logs[2:5] == ("INFO: push 0 ", "INFO: push 0 ", "INFO: push 0 ")
    assert rec.logs[5].startswith("INFO: push -1 DataPush: the list is full (max_list_items 3)")
    assert sum(len(x) for x in rec.logs) < 8192 + 200 and "…[cut" in rec.logs[-1]
    assert rec.extra["logs_cut"]["log_lines"] >= 98 and st["log_lines_cut"] >= 98
    (call,) = [c for c in rec.calls if c.name == "DataSet" and c.result == -1]
    assert len(call.args[1]) < 1100 and "…[cut" in call.args[1]  # the 25 MB value is not kept
    line = (tmp_path / "state" / "audit.jsonl").read_text().splitlines()[-1]
    assert len(line.encode()) < 16384 and json.loads(line)["status"] == "ok"


def test_per_recipe_limits_are_bounded(tmp_path: Path) -> None:
    with ReactionRuntime(_cfg(tmp_path, max_timeout_ms=300, max_memory_mb=32)) as rt:
        t0 = time.monotonic()
        rec = _one(rt, "function process(d) { while (true) {} }",
                   ref=RecipeRef("k", "huge", timeout_ms=10**15, memory_mb=10**6))
        assert rec.status == "timeout" and time.monotonic() - t0 < 3
        rec = _one(rt, "function process(d) { const k = []; for (;;) k.push(new ArrayBuffer(8 << 20)); }",
                   ref=RecipeRef("k", "huge", memory_mb=10**6))
        assert rec.status == "memory" and "32 MB" in (rec.error or "")
        assert rt.stats()["limits_clamped"] >= 3
    for bad in ({"drain_s": -1}, {"max_value_bytes": "big"}, {"max_timeout_ms": True},
                {"timeout_ms": 10**15}, {"memory_mb": 10**6}):
        with pytest.raises((ValueError, TypeError), match="must be"):
            _cfg(tmp_path, **bad)


def test_a_bad_event_fails_only_its_own_execution(tmp_path: Path) -> None:
    code = "function process(data) { Info('pid ' + data.process.pid); }"
    deep: dict[str, object] = {}
    cur = deep
    for _ in range(100_000):
        cur["a"] = {}
        cur = cur["a"]  # type: ignore[assignment]
    with ReactionRuntime(_cfg(tmp_path)) as rt:
        nan = _one(rt, code, {"process": {"pid": 1, "score": float("nan")}})
        assert nan.status == "error" and "cannot be passed to the reaction" in (nan.error or "")
        assert _one(rt, code, deep).status == "error"
        for pid in (5, 6):  # the isolate is not poisoned: every later event works
            ok = _one(rt, code, {"process": {"pid": pid}})
            assert ok.status == "ok" and ok.logs == (f"INFO: pid {pid}",)


def test_a_100000_deep_argument_returns_minus_one_with_errno(tmp_path: Path) -> None:
    with ReactionRuntime(_cfg(tmp_path)) as rt:
        rec = _one(rt, """function process(d) {
            let a = []; for (let i = 0; i < 100000; i++) a = [a];
            Info(DataSet('k', a), Errno()); Info(KillProcess(a), Errno()); Info(DataSet('k', 1), Errno());
        }""")
    assert rec.status == "ok", rec.error
    assert rec.logs[:2] == ("INFO: -1 DataSet: arguments nested too deeply",
                            "INFO: -1 KillProcess: arguments nested too deeply")
    assert rec.logs[2] == "INFO: 0 "


def test_overflow_is_counted_once_as_reactions_lost_and_logged(tmp_path: Path,
                                                               reactions_log: _Records) -> None:
    specs = [ReactionSpec("js", SLOW, 0), ReactionSpec("js", SLOW, 1)]
    with ReactionRuntime(_cfg(tmp_path, workers=1, queue_size=3)) as rt:
        accepted = [rt.submit(RecipeRef("k", "q"), specs, {"uuid": str(i)}) for i in range(5)]
        st = rt.stats()
        rt.drain(10)
    assert accepted == [True, False, False, False, False]
    assert st["overflow"] == 8 and st["overflow_detections"] == 4
    assert sum("reaction queue full" in r.getMessage() for r in reactions_log.records) == 1  # rate-limited log


def test_files_are_created_0600(tmp_path: Path) -> None:
    with ReactionRuntime(_cfg(tmp_path)) as rt:
        _one(rt, "function process(d) { DataIncr('n'); }")
        state = tmp_path / "state"
        for name in ("audit.jsonl", "reactions.sqlite", "reactions.sqlite-wal", "reactions.sqlite-shm"):
            mode = stat.S_IMODE(os.stat(state / name).st_mode)
            assert mode == 0o600, (name, oct(mode))


def test_data_incr_on_a_full_disk_gives_a_clear_errno(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "small", "size=256k") as disk:
        with ReactionRuntime(_cfg(tmp_path, state_dir=str(disk), audit_path="")) as rt:
            assert _one(rt, "function process(d) { DataIncr('n') }").status == "ok"
            filler = disk / "filler"
            with contextlib.suppress(OSError), open(filler, "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
            rec = _one(rt, """function process(d) {
                let r = 0; for (let i = 0; i < 400 && r >= 0; i++) r = DataSet('k' + i, 'v'.repeat(900));
                Info(r, Errno()); Info(DataIncr('n'), Errno());
            }""")
    assert rec.status == "ok", rec.error
    assert "disk is full" in rec.logs[0] and "rollback" not in " ".join(rec.logs), rec.logs
    assert rec.logs[1].startswith("INFO: -1 DataIncr: data store: the disk is full"), rec.logs


def test_read_only_state_dir_starts_and_reports_the_store_unavailable(tmp_path: Path,
                                                                       reactions_log: _Records) -> None:
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as disk:
        with ReactionRuntime(_cfg(tmp_path, state_dir=str(disk))) as rt:
            st = rt.stats()
            rec = _one(rt, "function process(d) { Info(DataSet('k', 1), Errno()); Info('still runs'); }")
    assert st["store"].startswith("data store") and st["audit"].startswith("cannot open")
    assert rec.status == "ok" and rec.logs[0].startswith("INFO: -1 DataSet: data store")
    assert rec.logs[1] == "INFO: still runs"
    assert any("data store unavailable" in r.getMessage() for r in reactions_log.records)
    assert not any("Traceback" in r.getMessage() for r in reactions_log.records)


def test_a_locked_store_waits_no_longer_than_the_reaction_may_run(tmp_path: Path) -> None:
    import sqlite3
    with ReactionRuntime(_cfg(tmp_path, timeout_ms=300)) as rt:
        _one(rt, "function process(d) { DataSet('k', 1) }")
        holder = sqlite3.connect(str(tmp_path / "state" / "reactions.sqlite"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            t0 = time.monotonic()
            rec = _one(rt, "function process(d) { Info(DataSet('k', 2), Errno()) }")
            took = time.monotonic() - t0
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert took < 2.0, took  # not SQLite's 10 s busy timeout
    assert rec.status in ("ok", "timeout")
    if rec.status == "ok":
        assert rec.logs[0].startswith("INFO: -1 DataSet: data store"), rec.logs
