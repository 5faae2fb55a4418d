"""Bundle format: reproducible bytes, and clear errors for corrupt, truncated or newer files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jibril_rules.bundle import VERSION, from_bytes, read, write
from jibril_rules.compiler.driver import compile_ruleset
from jibril_rules.compiler.ruleset import load_paths
from jibril_rules.core.errors import JibrilError

ROOT = Path(__file__).resolve().parent.parent
ALCH = str(ROOT / "alchemies")


@pytest.fixture(scope="module")
def data() -> bytes:
    return compile_ruleset(load_paths([ALCH])).to_bytes()


def test_same_input_same_bytes(data: bytes) -> None:
    assert compile_ruleset(load_paths([ALCH])).to_bytes() == data
    assert from_bytes(data).to_bytes() == data


def test_roundtrip_file(tmp_path: Path, data: bytes) -> None:
    b = from_bytes(data)
    write(b, str(tmp_path / "x.jbundle"))
    assert read(str(tmp_path / "x.jbundle")).hash == b.hash
    assert len({r.hash for r in b.recipes}) == len(b.recipes)


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d[: len(d) // 2], "corrupt or truncated"),
    (lambda d: b"", "corrupt or truncated"),
    (lambda d: d.replace(b'"importance":"critical"', b'"importance":"low"', 1), "hash does not match"),
    (lambda d: b'{"format":"other"}', "not a jibril bundle"),
    (lambda d: b"\xff\xfe garbage", "not UTF-8"),
])
def test_corrupt_bundles_are_refused(data: bytes, mutate, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(JibrilError) as e:
        from_bytes(mutate(data), "x.jbundle")
    d = e.value.diagnostics[0]
    assert d.code == "JR080" and words in d.message and d.span.file == "x.jbundle"


def test_newer_version_is_refused(data: bytes) -> None:
    doc = json.loads(data)
    doc["version"] = VERSION + 1
    with pytest.raises(JibrilError) as e:
        from_bytes(json.dumps(doc).encode())
    assert "newer" in e.value.diagnostics[0].message
    assert "upgrade" in e.value.diagnostics[0].hint


def test_cli_compile_is_reproducible(tmp_path: Path) -> None:
    outs = []
    for i in range(2):
        out = tmp_path / f"b{i}.jbundle"
        r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "compile", ALCH, "-o", str(out)],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        assert "kernel:" in r.stdout and "residual predicate" in r.stdout
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    bad = tmp_path / "bad.jbundle"
    bad.write_bytes(outs[0][:100])
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "replay", "/dev/null", "--from", str(bad)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "JR080" in r.stderr and "Traceback" not in r.stderr


def test_isolated_compile_matches_and_reports_errors(tmp_path: Path) -> None:
    from jibril_rules.compiler.driver import load_any
    from jibril_rules.runtime.loading import load_isolated
    assert load_isolated([ALCH]).hash == load_any([ALCH]).hash
    bad = tmp_path / "bad.yaml"
    bad.write_text("- kind: k\n  name: n\n  mechanism: file_acess\n")
    with pytest.raises(JibrilError) as e:
        load_isolated([str(bad)])
    d = e.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == ("JR022", 3, 14) and "file_access" in d.hint
