"""The `when:` grammar: accepted expressions round-trip through render(); rejected ones give
a located JR040.

tests/grammar/accept.txt and reject.txt hold one expression per line. A comment line
``# xfail: REASON`` marks the next expression as a known bug (xfail, strict).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jibril_rules.compiler import ast as A
from jibril_rules.compiler.grammar import parse_expr
from jibril_rules.core.errors import Collector, Span
from jibril_rules.core.ops import Op

HERE = Path(__file__).resolve().parent / "grammar"


def _pos(line: int, col: int) -> Span:
    return Span("x", line, col)


def parse(text: str) -> tuple[A.Node | None, Collector]:
    diags = Collector()
    return parse_expr(text, _pos, diags), diags


def _load(name: str) -> list[object]:
    out: list[object] = []
    xfail = ""
    for no, line in enumerate((HERE / name).read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            if line.lstrip().startswith("# xfail:"):
                xfail = line.split(":", 1)[1].strip()
            continue
        marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
        out.append(pytest.param(line, id=f"{name.split('.')[0]}{no}", marks=marks))
        xfail = ""
    return out


ACCEPT = _load("accept.txt")
REJECT = _load("reject.txt")


def test_file_sizes() -> None:
    assert len(ACCEPT) >= 40
    assert len(REJECT) >= 30


@pytest.mark.parametrize("text", ACCEPT)
def test_accept_round_trip(text: str) -> None:
    node, diags = parse(text)
    assert not diags.items, [f"{d.span} {d.code} {d.message}" for d in diags.items]
    assert node is not None
    rendered = A.render(node)
    again, diags2 = parse(rendered)
    assert not diags2.items, (rendered, [f"{d.span} {d.message}" for d in diags2.items])
    assert again == node, (text, rendered)
    # rendering is canonical: a second round gives the same text
    assert again is not None and A.render(again) == rendered


@pytest.mark.parametrize("text", REJECT + [pytest.param("", id="empty"),
                                           pytest.param("   ", id="blank")])
def test_reject_located(text: str) -> None:
    node, diags = parse(text)
    assert node is None, A.render(node) if node is not None else None
    assert diags.items, "no diagnostic"
    for d in diags.items:
        assert d.code == "JR040", d
        assert d.span.file == "x"
        assert d.span.line == 1, d
        assert 1 <= d.span.col <= len(text) + 1, (d, len(text))
        assert d.hint and d.message


# --- structure: precedence, values, spans ------------------------------------------------

def _cmp(field: str, op: Op, value: object) -> A.Cmp:
    return A.Cmp(field, op, value)  # type: ignore[arg-type]


def test_precedence_and_binds_tighter_than_or() -> None:
    node, _ = parse("a or b and c")
    assert node == A.Or((A.Ref("a"), A.And((A.Ref("b"), A.Ref("c")))))
    node, _ = parse("not a and b")
    assert node == A.And((A.Not(A.Ref("a")), A.Ref("b")))
    node, _ = parse("not (a and b)")
    assert node == A.Not(A.And((A.Ref("a"), A.Ref("b"))))


def test_values() -> None:
    node, _ = parse('process.exe in ("/bin/sh", 3, shells)')
    assert node == _cmp("process.exe", Op.IN, ("/bin/sh", 3, A.ListRef("shells")))
    node, _ = parse("process.pid <= -12")
    assert node == _cmp("process.pid", Op.LE, -12)
    node, _ = parse("process.loader exists")
    assert node == _cmp("process.loader", Op.EXISTS, None)
    node, _ = parse('process.exe == "say \\"hi\\""')
    assert node == _cmp("process.exe", Op.EQ, 'say "hi"')
    node, _ = parse("process.exe == 'a \"b\"'")
    assert node == _cmp("process.exe", Op.EQ, 'a "b"')


def test_single_quoted_escape() -> None:
    node, diags = parse("process.cmd == 'it\\'s'")
    assert not diags.items
    assert node == _cmp("process.cmd", Op.EQ, "it's")


def test_spans_point_at_fields() -> None:
    node, _ = parse('process.pid > 1 and\n  not parent.exe == "/x"')
    assert isinstance(node, A.And)
    first, second = node.items
    assert first.span == Span("x", 1, 1)
    assert isinstance(second, A.Not) and second.item.span == Span("x", 2, 7)


def test_error_column_on_second_line() -> None:
    _, diags = parse("process.pid > 1\n  and process.uid >> 0")
    (d,) = diags.items
    assert (d.code, d.span.line, d.span.col) == ("JR040", 2, 20)


def test_error_column_at_bad_token() -> None:
    _, diags = parse('process.exe == "x" and process.pid ~ 1')
    (d,) = diags.items
    assert d.span.col == len('process.exe == "x" and process.pid ') + 1
    assert "'~'" in d.message


def test_expected_words_are_readable() -> None:
    """Messages name what was expected in words, never raw grammar terminal names."""
    for text in ("process.exe ==", "process.pid > 1 and", "(process.pid > 1", "process.exe in ("):
        _, diags = parse(text)
        (d,) = diags.items
        assert "__ANON" not in d.message and "$END" not in d.message, d.message


def test_expected_words_cover_every_terminal() -> None:
    for text in ("", "process.pid > 1 and", "not"):
        _, diags = parse(text)
        (d,) = diags.items
        for raw in ("_TRUE", "_FALSE", "LSQB", "RSQB"):
            assert raw not in d.message, d.message
