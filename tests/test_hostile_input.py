"""Hostile recipe files: lint must never raise, must stop quickly, and must say where.

Each hostile case is linted from tmp_path with lint_paths. The 1 s bound is a correctness
bound (a guard that fires late is a denial of service on the loader), not a benchmark; the
parsers and validators are warmed up once first so the bound measures the case alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jibril_rules.core.errors import Diagnostic, Severity
from jibril_rules.tools.lint import LintOptions, lint_paths

# A hang guard, not a performance assertion (timings live in bench/): a quadratic blow-up or a
# loop on hostile input takes minutes; a loaded CI machine takes a few seconds at most.
BOUND_S = 20.0
RECIPE = "- kind: test\n  name: r{i}\n  mechanism: execution\n  file_actions: [execve]\n"
HEADER = RECIPE.format(i=0)  # 4 lines; a `when:` added after it is on line 5, column 9


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    f = tmp_path_factory.mktemp("warm") / "warm.yaml"
    f.write_text(HEADER + '  when: process.pid > 1 and process.exe regex "^/x"\n')
    lint_paths([str(f)], LintOptions(netpolicy=False))


def lint_bytes(tmp_path: Path, name: str, data: bytes | str) -> tuple[list[Diagnostic], float]:
    f = tmp_path / name
    if isinstance(data, str):
        f.write_text(data, encoding="utf-8")
    else:
        f.write_bytes(data)
    t0 = time.perf_counter()
    _, diags = lint_paths([str(f)], LintOptions(netpolicy=False))
    elapsed = time.perf_counter() - t0
    for d in diags:
        assert d.span.file == str(f), d
        assert d.span.line >= 1 and d.span.col >= 1, d
        assert d.hint, d
    return diags, elapsed


def _show(diags: list[Diagnostic]) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.span.line, d.span.col, d.message[:100]) for d in diags]


def assert_located(diags: list[Diagnostic], elapsed: float, code: str,
                   line: int | None = None) -> Diagnostic:
    assert elapsed < BOUND_S, f"took {elapsed:.2f} s: {_show(diags)}"
    hits = [d for d in diags if d.code == code]
    assert hits, _show(diags)
    if line is not None:
        assert any(d.span.line == line for d in hits), _show(diags)
    return hits[0]


def billion_laughs() -> str:
    lines = ["- kind: test", "  name: bomb", "  mechanism: execution", '  description: &a0 "lol"']
    for i in range(1, 10):
        lines.append(f"  d{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"  # 9**9 = 387M strings once expanded


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    diags, elapsed = lint_bytes(tmp_path, "bomb.yaml", billion_laughs())
    assert [d.code for d in diags] == ["JR003"], _show(diags)
    assert 4 <= diags[0].span.line <= 13, _show(diags)  # inside the anchors, not 1:1


def test_billion_laughs_within_bound(tmp_path: Path) -> None:
    diags, elapsed = lint_bytes(tmp_path, "bomb.yaml", billion_laughs())
    assert_located(diags, elapsed, "JR003")


def test_nested_flow_lists_10000(tmp_path: Path) -> None:
    diags, elapsed = lint_bytes(tmp_path, "deep.yaml", "- " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert_located(diags, elapsed, "JR004", line=1)


def test_nested_block_lists_10000(tmp_path: Path) -> None:
    diags, elapsed = lint_bytes(tmp_path, "deep_block.yaml", "- " * 10_000 + "x\n")
    assert_located(diags, elapsed, "JR004", line=1)


def test_nested_mappings_10000(tmp_path: Path) -> None:
    text = HEADER + "  description: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n"
    diags, elapsed = lint_bytes(tmp_path, "deep_map.yaml", text)
    assert_located(diags, elapsed, "JR004", line=5)


def test_twenty_megabytes(tmp_path: Path) -> None:
    text = HEADER + "  description: " + "x" * (20 * 1024 * 1024) + "\n"
    diags, elapsed = lint_bytes(tmp_path, "huge.yaml", text)
    assert_located(diags, elapsed, "JR002", line=1)


def test_invalid_utf8_in_the_middle(tmp_path: Path) -> None:
    data = (HEADER + "  description: abc").encode() + b"\xff\xfe def\n" + RECIPE.format(i=1).encode()
    diags, elapsed = lint_bytes(tmp_path, "latin.yaml", data)
    d = assert_located(diags, elapsed, "JR005", line=5)
    assert d.span.col == len("  description: abc") + 1
    assert "0xff" in d.message


def test_long_when_with_5000_ands(tmp_path: Path) -> None:
    expr = " and ".join(f'process.exe != "/usr/local/bin/tool{i:05d}"' for i in range(5001))
    assert len(expr) > 200_000 and expr.count(" and ") == 5000
    diags, elapsed = lint_bytes(tmp_path, "long_when.yaml", HEADER + "  when: " + expr + "\n")
    d = assert_located(diags, elapsed, "JR040", line=5)
    assert d.span.col == 9


def test_short_when_with_5000_ands_is_fine(tmp_path: Path) -> None:
    """Below the length limit, a flat chain of 5,000 'and's is an ordinary expression."""
    expr = " and ".join(["process.pid > 1"] * 3000 + ["true"] * 2001)
    assert expr.count(" and ") == 5000 and len(expr) < 100_000
    diags, elapsed = lint_bytes(tmp_path, "and_chain.yaml", HEADER + "  when: " + expr + "\n")
    assert elapsed < BOUND_S, f"took {elapsed:.2f} s"
    assert not [d for d in diags if d.severity is Severity.ERROR], _show(diags)


def test_parentheses_5000_deep(tmp_path: Path) -> None:
    expr = "(" * 5000 + "process.pid > 1" + ")" * 5000
    diags, elapsed = lint_bytes(tmp_path, "parens.yaml", HEADER + "  when: " + expr + "\n")
    assert_located(diags, elapsed, "JR040", line=5)


def test_not_5000_deep(tmp_path: Path) -> None:
    expr = "not " * 5000 + "process.pid > 1"
    diags, elapsed = lint_bytes(tmp_path, "nots.yaml", HEADER + "  when: " + expr + "\n")
    assert_located(diags, elapsed, "JR040", line=5)


def test_nul_bytes(tmp_path: Path) -> None:
    data = HEADER + "  description: a\x00b\n" + RECIPE.format(i=1)
    diags, elapsed = lint_bytes(tmp_path, "nul.yaml", data)
    assert elapsed < BOUND_S
    assert diags and diags[0].severity is Severity.ERROR, _show(diags)
    assert diags[0].code in ("JR001", "JR005"), _show(diags)


def test_nul_bytes_located_at_the_nul(tmp_path: Path) -> None:
    data = HEADER + "  description: a\x00b\n" + RECIPE.format(i=1)
    diags, elapsed = lint_bytes(tmp_path, "nul.yaml", data)
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("JR001", 5, 17)], _show(diags)


def test_nul_byte_inside_when(tmp_path: Path) -> None:
    data = HEADER + '  when: "process.pid > 1 \\0 and process.uid == 0"\n'  # YAML escape -> NUL
    diags, elapsed = lint_bytes(tmp_path, "nul_when.yaml", data)
    assert_located(diags, elapsed, "JR040", line=5)


def test_5000_recipes_lint_fine(tmp_path: Path) -> None:
    text = "".join(RECIPE.format(i=i) for i in range(5000))
    diags, _ = lint_bytes(tmp_path, "many.yaml", text)
    assert not [d for d in diags if d.severity is Severity.ERROR], _show(diags)[:5]


def test_macro_chain_3000_never_raises(tmp_path: Path) -> None:
    text = "".join(f"- macro: m{i}\n  condition: m{i + 1}\n" for i in range(3000))
    text += "- macro: m3000\n  condition: process.pid > 1\n" + HEADER + "  when: m0\n"
    diags, elapsed = lint_bytes(tmp_path, "macro_chain.yaml", text)
    assert elapsed < BOUND_S
    for d in diags:
        assert d.span.line >= 1


def test_many_diagnostics_all_located(tmp_path: Path) -> None:
    """5,000 broken recipes: every one reported and located (no early stop, no crash)."""
    text = "".join(f"- kind: test\n  name: r{i}\n  mechanism: baseline\n" for i in range(5000))
    diags, elapsed = lint_bytes(tmp_path, "many_bad.yaml", text)
    assert len([d for d in diags if d.code == "JR022"]) == 5000
    assert diags[-1].span.line == 3 * 4999 + 3
