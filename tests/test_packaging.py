"""The wheel ships the grammar and the BPF sources, and the console script is declared."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_grammar_and_bpf(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (whl,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for f in ("jibril_rules/data/grammar/jibril.lark", "jibril_rules/data/bpf/jibril.bpf.c",
              "jibril_rules/data/bpf/jibril_events.h", "jibril_rules/py.typed"):
        assert f in names, f
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "jibril = jibril_rules.cli:entry" in zipfile.ZipFile(whl).read(entry).decode()


def test_project_urls_are_the_ones_the_code_links() -> None:
    import tomllib

    from jibril_rules.core.vocab import DOCS_URL, PROJECT_URL
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Source"] == urls["Homepage"] == PROJECT_URL
    assert DOCS_URL.startswith(PROJECT_URL)
