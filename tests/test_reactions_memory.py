"""The memory cap holds on every path to off-heap memory (issue 7 finding 4).

V8's heap limit (mini-racer's hard limit) plus the array-buffer allocator limit
(reactions/v8mem.py): `ArrayBuffer.prototype.transfer`, `Uint8Array.prototype.slice` and
`.map()` went around the old wrapped constructors (1.5 GB, 960 MB, 320 MB, status `ok`).
"""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef

MB = 1024 * 1024
PATHS = {
    "transfer": "const k = []; for (let i = 0; i < 6; i++) k.push(new ArrayBuffer(8).transfer(256 * MB));",
    "slice": "const a = new Uint8Array(16 * MB); const k = []; for (let i = 0; i < 60; i++) k.push(a.slice());",
    "map": "const a = new Uint8Array(16 * MB); const k = []; for (let i = 0; i < 20; i++) k.push(a.map(x => x));",
    "subarray_copy": "const k = []; for (let i = 0; i < 60; i++) k.push(new Uint8Array(new Uint8Array(16 * MB)));",
    "shared": "const k = []; for (let i = 0; i < 60; i++) k.push(new SharedArrayBuffer(16 * MB));",
    "heap": "const k = []; for (;;) k.push(new Array(1e5).fill(1.5));",
}


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("mem")
    runtime = ReactionRuntime(ReactionConfig(state_dir=str(d / "s"), temp_root=str(d), memory_mb=64,
                                             log_to_python=False))
    yield runtime
    runtime.close()


@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_allocation_path_hits_the_cap(rt: ReactionRuntime, path: str) -> None:
    code = f"const MB = {MB};\nfunction process(d) {{ {PATHS[path]} Info('not stopped'); }}"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    (rec,) = rt.run_now(RecipeRef("k", f"mem_{path}"), [ReactionSpec("js", code)], {})
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - before
    assert rec.status == "memory", (rec.status, rec.error, rec.logs)
    assert "64 MB" in (rec.error or "") and "INFO: not stopped" not in rec.logs
    assert grew < 400, f"peak RSS grew by {grew} MB"


def test_a_caught_refusal_is_still_memory_and_the_recipe_keeps_working(rt: ReactionRuntime) -> None:
    code = ("function process(d) { try { const k = []; for (;;) k.push(new ArrayBuffer(32 << 20)); }"
            " catch (e) { Info('caught ' + e); } }")
    (rec,) = rt.run_now(RecipeRef("k", "caught"), [ReactionSpec("js", code)], {})
    assert rec.status == "memory" and rec.logs == ("INFO: caught RangeError: Array buffer allocation failed",)
    (ok,) = rt.run_now(RecipeRef("k", "caught"), [ReactionSpec("js", code.replace(";;", "let i = 0; i < 1; i++"))], {})
    assert ok.status == "ok"


def test_resizable_buffers_are_refused(rt: ReactionRuntime) -> None:
    """They commit memory on resize() without the allocator: not available in reactions."""
    for ctor in ("ArrayBuffer", "SharedArrayBuffer"):
        code = f"function process(d) {{ new {ctor}(1, {{maxByteLength: 1 << 30}}); }}"
        (rec,) = rt.run_now(RecipeRef("k", "resizable"), [ReactionSpec("js", code)], {})
        assert rec.status == "memory" and "resizable" in (rec.error or ""), rec.error
    code = ("function process(d) { const b = new ArrayBuffer(8); Info(b.constructor === ArrayBuffer, "
            "b.slice(2).byteLength, ArrayBuffer.isView(new Uint8Array(b)), b instanceof ArrayBuffer); }")
    (rec,) = rt.run_now(RecipeRef("k", "plain"), [ReactionSpec("js", code)], {})
    assert rec.logs == ("INFO: true 6 true true",)


def test_garbage_does_not_count_against_the_cap(rt: ReactionRuntime) -> None:
    """2 GB allocated in total, 1 MB live at a time: V8 collects and the allocator retries."""
    code = "function process(d) { let n = 0; for (let i = 0; i < 2000; i++) n += new Uint8Array(1 << 20).length; Info(n); }"
    (rec,) = rt.run_now(RecipeRef("k", "garbage"), [ReactionSpec("js", code)], {})
    assert rec.status == "ok" and rec.logs == (f"INFO: {2000 << 20}",)


def test_per_recipe_memory_mb_is_the_array_buffer_cap_too(tmp_path: Path, rt: ReactionRuntime) -> None:
    code = "function process(d) { const k = []; for (let i = 0; i < 6; i++) k.push(new ArrayBuffer(16 << 20)); Info('fits'); }"
    (small,) = rt.run_now(RecipeRef("k", "cap", memory_mb=48), [ReactionSpec("js", code)], {})
    (large,) = rt.run_now(RecipeRef("k", "cap", memory_mb=256), [ReactionSpec("js", code)], {})
    assert small.status == "memory" and large.status == "ok" and large.logs == ("INFO: fits",)


def test_a_refusal_that_garbage_collection_recovers_is_not_memory(rt: ReactionRuntime) -> None:
    """Live garbage fills the cap, V8 collects it and the same allocation then succeeds."""
    code = ("function process(d) { let keep = []; for (let i = 0; i < 40; i++) keep.push(new ArrayBuffer(1 << 20));"
            " keep = null; for (let i = 0; i < 200; i++) new ArrayBuffer(8 << 20); Info('done'); }")
    (rec,) = rt.run_now(RecipeRef("k", "recover"), [ReactionSpec("js", code)], {})
    assert rec.status == "ok" and rec.logs == ("INFO: done",), (rec.status, rec.error)
