"""Live, as root: `jibril record` writes raw events that `jibril replay` detects on, no root."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.kernel, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
MINER = [str(ROOT / "alchemies/crypto_miner_executed/recipe.yaml"), str(ROOT / "alchemies/_shared")]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "jibril_rules.cli", *args]


def test_record_then_replay(tmp_path: Path) -> None:
    out = tmp_path / "rec.jsonl"
    exe = tmp_path / "xmrig"
    shutil.copy("/bin/true", exe)
    src = [a for p in MINER for a in ("--from", p)]
    rec = subprocess.Popen(cli("record", "-o", str(out), "--for", "30", *src), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert rec.stdout is not None
        assert "ready" in rec.stdout.readline()
        subprocess.run([str(exe), "--donate-level", "1"], check=True, timeout=10)
    finally:
        rec.send_signal(signal.SIGINT)  # stops early and drains
        _, err = rec.communicate(timeout=30)
    assert rec.returncode == 0, err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [e for e in events if e.get("file", {}).get("file") == str(exe)]
    assert mine and mine[0]["mechanism"] == "execution"
    r = subprocess.run(cli("replay", str(out), "--no-reactions", *src), capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "DETECT crypto_miner_executed" in r.stdout and str(exe) in r.stdout
