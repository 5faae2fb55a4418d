"""Review finding 12: a bundle with a valid hash but a malformed body, no recipes, or a bad
version is one JR080 message naming the part; never a traceback, never the whole bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xxhash

from jibril_rules.bundle import from_bytes
from jibril_rules.compiler.driver import compile_ruleset
from jibril_rules.compiler.ruleset import load_paths
from jibril_rules.core.errors import JibrilError

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ("- kind: k\n  name: passwd_w\n  mechanism: file_access\n  file_actions: [write]\n"
          "  bases: [{dir: /etc, base: passwd}]\n")


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    f = tmp_path_factory.mktemp("b") / "r.yaml"
    f.write_text(RECIPE)
    return json.loads(compile_ruleset(load_paths([str(f)])).to_bytes())  # type: ignore[no-any-return]


def rehash(doc: dict[str, Any]) -> bytes:
    """The body re-signed, as a hand-made or foreign bundle would be."""
    canon = json.dumps(doc["body"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(dict(doc, hash=xxhash.xxh3_64_hexdigest(canon.encode()))).encode()


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        node: Any = d["body"]
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return change


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        node: Any = d["body"]
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    return change


BAD_BODIES = [
    (_set(("recipes",), {}), "'recipes' must be a list, not a mapping"),
    (_set(("recipes",), []), "no recipes"),
    (_set(("recipes", 0), "x"), "recipes[0] must be a mapping"),
    (_set(("recipes", 0, "index"), "x"), "recipes[0] (passwd_w): 'index' must be a number"),
    (_set(("recipes", 0, "index"), True), "'index' must be a number, not true"),
    (_drop(("recipes", 0, "cond")), "'cond' is missing"),
    (_set(("recipes", 0, "cond"), ["?", "nonsense"]), "bundle is malformed"),
    (_set(("recipes", 0, "span"), []), "bundle is malformed"),
    (_set(("recipes", 0, "times"), [["x"]]), "bundle is malformed"),
    (_set(("tables",), []), "'tables' must be a mapping"),
    (_set(("tables",), {}), "bundle is malformed"),
    (_drop(("tree",)), "'tree' is missing"),
    (_set(("atoms",), [[1]]), "bundle is malformed"),
]


@pytest.mark.parametrize(("change", "words"), BAD_BODIES, ids=[w for _, w in BAD_BODIES])
def test_valid_hash_malformed_body(doc: dict[str, Any], change: Callable[[dict[str, Any]], None],
                                   words: str) -> None:
    d = json.loads(json.dumps(doc))
    change(d)
    with pytest.raises(JibrilError) as e:
        from_bytes(rehash(d), "x.jbundle")
    (diag,) = e.value.diagnostics
    assert diag.code == "JR080" and words in diag.message, diag.message
    assert diag.span.file == "x.jbundle" and len(diag.message) < 400


@pytest.mark.parametrize("version", [-1, 0, True, False, "1", None, 1.0])
def test_bad_versions_are_refused(doc: dict[str, Any], version: Any) -> None:
    with pytest.raises(JibrilError) as e:
        from_bytes(json.dumps(dict(doc, version=version)).encode())
    assert "not a version" in e.value.diagnostics[0].message


def test_cli_error_does_not_print_the_bundle(doc: dict[str, Any], tmp_path: Path) -> None:
    d = json.loads(json.dumps(doc))
    d["body"]["recipes"] = {}
    (tmp_path / "b.jbundle").write_bytes(rehash(d))
    (tmp_path / "ev.jsonl").write_text("{}\n")
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "replay", str(tmp_path / "ev.jsonl"),
                        "--from", str(tmp_path / "b.jbundle")], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 1 and "JR080" in r.stderr and "Traceback" not in r.stderr
    assert '"body"' not in r.stderr and len(r.stderr) < 1000, r.stderr


def test_long_source_lines_are_cut_around_the_column(tmp_path: Path) -> None:
    from jibril_rules.tools.lint import format_human, lint_paths
    f = tmp_path / "r.yaml"
    f.write_text("- {kind: k, name: n, mechanism: execution, file_actions: [execve], when: '"
                 + " or ".join(f'process.comm == "c{i}"' for i in range(200)) + " or process.comx == 1'}\n")
    rs, diags = lint_paths([str(f)])
    (d,) = [x for x in diags if x.code == "JR041"]
    lines = format_human([d], rs.sources).splitlines()
    shown, caret = lines[1], lines[2]
    assert len(shown) < 200 and shown.startswith("    ...")
    assert shown[caret.index("^"):].startswith("process.comx")
