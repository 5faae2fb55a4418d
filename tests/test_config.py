"""jibril.yaml: located errors for unknown keys and bad values; defaults when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from jibril_rules.config import load_config
from jibril_rules.core.errors import JibrilError


def errs(tmp_path: Path, text: str) -> list[tuple[str, int, int, str]]:
    p = tmp_path / "jibril.yaml"
    p.write_text(text)
    with pytest.raises(JibrilError) as e:
        load_config(str(p))
    return [(d.code, d.span.line, d.span.col, d.hint) for d in e.value.diagnostics]


def test_unknown_keys_are_located_with_suggestions(tmp_path: Path) -> None:
    got = errs(tmp_path, "printers: [stdout]\nreactions:\n  mode: monitor\n  netpolcy: true\nprinter: x\n")
    assert ("JR020", 4, 3, "did you mean 'netpolicy'?") in got
    assert any(c == "JR020" and line == 5 for c, line, _, _ in got)


def test_bad_values(tmp_path: Path) -> None:
    (code, line, _, _), = errs(tmp_path, "reactions:\n  mode: loud\n")
    assert code == "JR022" and line == 2
    (code, line, _, _), = errs(tmp_path, "printers: stdout\n")
    assert code == "JR021" and line == 1
    (code, *_), = errs(tmp_path, "- a\n- b\n")
    assert code == "JR021"


def test_defaults_and_good_file(tmp_path: Path) -> None:
    assert load_config(None).printers  # ./jibril.yaml or defaults
    p = tmp_path / "ok.yaml"
    p.write_text("printers: [stdout, 'jsonl:/tmp/x.jsonl']\nreactions: {mode: enforce, netpolicy: true}\n")
    cfg = load_config(str(p))
    assert cfg.netpolicy and cfg.reactions["mode"] == "enforce"
