"""YAML 1.2 scalars with positions: words stay words, 0755 is decimal (with a warning naming
the literal), duplicate keys are errors; recipes and jibril.yaml alike."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jibril_rules.config import load_config
from jibril_rules.core.errors import Collector, JibrilError
from jibril_rules.core.source import LStr, load_yaml, read_source


def load(tmp_path: Path, text: str) -> tuple[object, Collector]:
    p = tmp_path / "x.yaml"
    p.write_text(text)
    diags = Collector()
    src = read_source(str(p), diags)
    assert src is not None
    return load_yaml(src, diags), diags


@pytest.mark.parametrize(("text", "value"), [
    ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"), ("N", "N"),
    ("true", True), ("False", False), ("TRUE", True), ("~", None), ("null", None), ("", None),
    ("0o755", 493), ("0x1F", 31), ("-12", -12), ("1:30", "1:30"), ("1_000", "1_000"),
    ("1.5", 1.5), ("1e3", 1000.0), ("-.inf", -math.inf), ("0755", 755), ("'no'", "no"),
    ('"0755"', "0755"), ("2026-11-22", "2026-11-22"),
])
def test_core_schema_scalars(tmp_path: Path, text: str, value: object) -> None:
    doc, _ = load(tmp_path, f"k: {text}\n")
    assert isinstance(doc, dict)
    got = doc["k"]
    assert got == value and (isinstance(got, str) if isinstance(value, str) else type(got) is type(value)), (got, value)
    if isinstance(value, str):
        assert isinstance(got, LStr) and got.span.line == 1 and got.span.col == 4


def test_leading_zero_warns_with_the_literal(tmp_path: Path) -> None:
    _, diags = load(tmp_path, "a: 1\nmode: 0755\n")
    (d,) = diags.items
    assert (d.code, d.severity.value, d.span.line, d.span.col) == ("JR008", "warning", 2, 7)
    assert "'0755'" in d.message and "493" in d.message and "0o755" in d.hint


def test_duplicate_keys_are_errors_at_the_second_key(tmp_path: Path) -> None:
    _, diags = load(tmp_path, "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    got = sorted((d.code, d.span.line, d.span.col) for d in diags.items)
    assert got == [("JR007", 4, 3), ("JR007", 5, 1)]
    assert all("first at line" in d.message for d in diags.items)


def test_config_duplicate_key_and_yaml11_boolean(tmp_path: Path) -> None:
    p = tmp_path / "jibril.yaml"
    p.write_text("reactions:\n  allow_poweroff: no\n  mode: monitor\n  mode: enforce\n")
    with pytest.raises(JibrilError) as e:
        load_config(str(p))
    got = {(d.code, d.span.line): d for d in e.value.diagnostics}
    assert ("JR007", 4) in got
    hint = got[("JR021", 2)].hint
    assert "allow_poweroff: false" in hint and "'no'" in hint
