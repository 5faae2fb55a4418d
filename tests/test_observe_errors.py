"""Bad input to the observability commands and options ends in one clear line and exit 1/2,
never a Python traceback (run, record, service, config keys); the table of bad command lines
across every command is tests/test_cli_errors.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPE = """- kind: test
  name: tmp_open
  mechanism: file_access
  file_actions: [open]
  when: file.file startswith "/nonexistent-review/"
"""


def jibril(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def _clean_failure(r: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    assert r.returncode == code, out
    assert words in out, out


@pytest.mark.kernel
@pytest.mark.parametrize(("flags", "code", "words"), [
    (["--metrics-listen", "127.0.0.1:99999"], 2, "0-65535"),
    (["--metrics-listen", "nonsense"], 2, "HOST:PORT"),
    (["--metrics-listen", "10.1.2.3:9376"], 2, "token"),
    (["--metrics-listen", "", "--log-level", "loud"], 2, "unknown log level"),
    (["--metrics-listen", "", "--output", "bogus:x"], 2, "unknown printer"),
    (["--metrics-listen", "", "--output", "jsonl:/nonexistent-review/x.jsonl"], 1, "cannot write"),
])
def test_run_bad_options(tmp_path: Path, flags: list[str], code: int, words: str) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    r = jibril("run", "--from", str(tmp_path / "r.yaml"), "--dry-run", "--for", "1",
               "--control", "", *flags, cwd=tmp_path)
    _clean_failure(r, code, words)


@pytest.mark.kernel
def test_run_bad_config_port_is_located(tmp_path: Path) -> None:
    (tmp_path / "j.yaml").write_text("metrics:\n  listen: 127.0.0.1:70000\n")
    r = jibril("run", "--config", str(tmp_path / "j.yaml"), "--for", "1", cwd=tmp_path)
    _clean_failure(r, 1, "j.yaml:2")
    assert "0-65535" in r.stderr


@pytest.mark.kernel
def test_record_to_an_unwritable_path(tmp_path: Path) -> None:
    r = jibril("record", "-o", str(tmp_path / "missing" / "x.jsonl"), "--for", "1")
    _clean_failure(r, 1, "cannot write")


def test_service_install_into_a_file_and_uninstall_a_broken_manifest(tmp_path: Path) -> None:
    f = tmp_path / "a-file"
    f.write_text("")
    _clean_failure(jibril("service", "install", "--root", str(f), "--no-verify"), 1,
                   "Not a directory")
    etc = tmp_path / "root" / "etc" / "jibril"
    etc.mkdir(parents=True)
    (etc / ".installed").write_text("{broken")
    _clean_failure(jibril("service", "uninstall", "--root", str(tmp_path / "root")), 1,
                   "is not what install wrote")
    assert (etc / ".installed").exists()  # nothing removed on a manifest we cannot read


def test_split_listen_checks_the_port() -> None:
    from jibril_rules.observe.settings import split_listen
    assert split_listen("[::1]:9376") == ("::1", 9376)
    for bad in ("127.0.0.1:65536", "127.0.0.1:", ":80", "x"):
        with pytest.raises(ValueError):
            split_listen(bad)
