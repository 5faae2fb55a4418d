"""Every YAML block in the docs (and the README) that is a recipe file lints clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from jibril_rules.core.errors import Severity
from jibril_rules.tools.lint import LintOptions, lint_paths

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.S | re.M)
_ENTRY_KEYS = {"kind", "list", "macro", "exception"}


def recipe_blocks() -> list[tuple[str, int, str]]:
    out = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = md.read_text()
        for m in _BLOCK.finditer(text):
            body = m.group(1)
            try:
                doc = yaml.safe_load(body)
            except yaml.YAMLError:
                doc = None
            if isinstance(doc, list) and doc and all(
                    isinstance(e, dict) and _ENTRY_KEYS & set(e) for e in doc):
                out.append((md.name, text[: m.start()].count("\n") + 2, body))
    return out


def test_the_docs_have_recipe_examples() -> None:
    assert {name for name, _, _ in recipe_blocks()} >= {"README.md", "recipes.md"}


@pytest.mark.parametrize(("doc", "line", "body"), recipe_blocks(),
                         ids=[f"{d}:{n}" for d, n, _ in recipe_blocks()])
def test_doc_example_lints_clean(tmp_path: Path, doc: str, line: int, body: str) -> None:
    f = tmp_path / f"{doc}-{line}.yaml"
    f.write_text(body)
    rs, diags = lint_paths([str(f)], LintOptions(netpolicy=True))
    bad = [d for d in diags if d.severity is not Severity.NOTE]
    assert not bad, f"{doc} line {line}:\n" + "\n".join(
        f"  {d.span.line + line - 1}:{d.span.col} {d.severity.value} {d.code}: {d.message}" for d in bad)
    assert rs.recipes
