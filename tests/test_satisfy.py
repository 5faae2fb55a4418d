"""JR073 ("can never match") names the contradicting predicates and stays quiet when in doubt."""

from __future__ import annotations

from pathlib import Path

import pytest

from jibril_rules.compiler.ruleset import load_paths

ROOT = Path(__file__).resolve().parent.parent


def _jr073(tmp_path: Path, mechanism: str, body: str) -> list[str]:
    f = tmp_path / "r.yaml"
    f.write_text(f"- kind: test\n  name: r\n  mechanism: {mechanism}\n{body}")
    rs = load_paths([str(f)])
    assert not [d for d in rs.diagnostics if d.severity.value == "error"], rs.diagnostics
    return [d.message for d in rs.diagnostics if d.code == "JR073"]


@pytest.mark.parametrize(("mechanism", "body", "names"), [
    ("execution", "  when: flow.remote.port == 4444\n", ["flow.remote.port == 4444"]),
    ("execution", '  when: process.comm == "a" and process.comm == "b"\n',
     ['process.comm == "a"', 'process.comm == "b"']),
    ("network_peers", "  file_actions: [open]\n", ['file.actions in ("open")']),
    ("execution", '  when: process.comm in ("a", "b") and process.comm == "c"\n', ['process.comm == "c"']),
    ("execution", "  when: flow.remote.port == 1 or flow.local.port == 2\n", ["(flow.remote.port == 1 or flow.local.port == 2) needs network_peers"]),
])
def test_contradictions_are_reported_with_their_predicates(tmp_path: Path, mechanism: str,
                                                          body: str, names: list[str]) -> None:
    msgs = _jr073(tmp_path, mechanism, body)
    assert len(msgs) == 1, msgs
    for n in names:
        assert n in msgs[0], msgs[0]


@pytest.mark.parametrize(("mechanism", "body"), [
    ("execution", '  when: flow.remote.port == 4444 or process.comm == "nc"\n'),
    ("execution", "  when: flow.remote.port != 22\n"),  # `!=` holds on an absent field
    ("execution", "  when: not flow.remote.port == 22\n"),
    ("execution", '  when: process.comm in ("nc", "ncat") and process.comm == "nc"\n'),
    ("file_access", "  file_actions: [execve]\n"),
    ("network_peers", '  when: flow.remote.address == "10.0.0.1" and flow.remote.address in ("10.0.0.0/8")\n'),
])
def test_satisfiable_recipes_are_not_reported(tmp_path: Path, mechanism: str, body: str) -> None:
    assert _jr073(tmp_path, mechanism, body) == []


def test_the_recipe_library_has_no_impossible_recipe() -> None:
    rs = load_paths([str(ROOT / "alchemies")])
    assert [d for d in rs.diagnostics if d.code == "JR073"] == []
