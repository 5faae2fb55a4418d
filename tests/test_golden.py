"""Golden tests: AST, IR, kernel tables and tree of a few recipes (UPDATE_GOLDENS=1 rewrites)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jibril_rules.compiler import ast as A
from jibril_rules.compiler.driver import compile_ruleset
from jibril_rules.compiler.ir import render_ir
from jibril_rules.compiler.ruleset import load_paths

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "recipe.yaml").is_file())


def render_case(case: str) -> dict[str, str]:
    rs = load_paths([str(GOLDEN / case / "recipe.yaml")])
    assert rs.ok, rs.diagnostics
    b = compile_ruleset(rs)
    atoms = list(b.atoms)
    ast_txt = "\n".join(f"{r.name}: {A.render(r.condition)}" + "".join(
        f"\n  except {x.name}: {A.render(x.condition)}" for x in r.exceptions) for r in rs.recipes)
    ir_txt = "\n".join(f"{r.name}: {render_ir(r.ir.cond, atoms)}" + "".join(
        f"\n  except {n}: {render_ir(x, atoms)}" for n, x in r.ir.excs) for r in b.recipes)
    return {
        "ast.txt": ast_txt + "\n",
        "ir.txt": ir_txt + "\n",
        "tables.json": json.dumps(b.tables.to_json(), indent=1, sort_keys=True) + "\n",
        "tree.json": json.dumps(b.tree.to_json(), indent=1, sort_keys=True) + "\n",
    }


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    got = render_case(case)
    for name, text in got.items():
        path = GOLDEN / case / name
        if os.environ.get("UPDATE_GOLDENS") or not path.exists():
            path.write_text(text)
        assert path.read_text() == text, f"{case}/{name} changed; rerun with UPDATE_GOLDENS=1 if intended"


def test_goldens_present() -> None:
    assert len(CASES) >= 5
