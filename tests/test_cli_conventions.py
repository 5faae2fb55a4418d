"""The CLI's conventions, command by command: --help (examples, exit codes, defaults), -o
overrides, config lookup, NO_COLOR, -q, stdin, --fail-on, list --format json, completion,
recipe paths from any folder, and docs/cli.md being current."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jibril_rules.cli import main
from jibril_rules.cli.reference import cli_md, commands

ROOT = Path(__file__).resolve().parent.parent
ALCH = ROOT / "alchemies"
NET = ALCH / "mining_pool_connection"  # uses NetBlock*: JR063 warnings without netpolicy
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAD = "- kind: x\n  name: bad_recipe\n  mechanism: execution\n  when: process.exe ==\n"


def jibril(*args: str, cwd: Path | str = ROOT, env: dict[str, str] | None = None,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ) if env is None else dict(env)
    if env is None:
        e.pop("NO_COLOR", None)
    e["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=e, timeout=300, input=stdin)


ALL = sorted(commands())


@pytest.mark.parametrize("name", ALL)
def test_help_has_examples_and_exit_codes(name: str) -> None:
    r = CliRunner().invoke(main, [*name.split(), "--help"], prog_name="jibril", terminal_width=200)
    assert r.exit_code == 0, r.output
    cmd = commands()[name]
    if isinstance(cmd, click.Group):
        assert "Commands:" in r.output
        return
    examples = re.search(r"Examples:\n((?: {3,}\S.*\n)+)", r.output)
    assert examples, r.output
    lines = examples.group(1).splitlines()
    assert 2 <= len(lines) <= 4, lines
    assert all("jibril" in ln for ln in lines), lines
    codes = re.search(r"Exit codes:\n((?: +\d+  .*\n?)+)", r.output)
    assert codes, r.output
    nums = [int(ln.split()[0]) for ln in codes.group(1).splitlines()]
    assert {0, 2} <= set(nums), nums


@pytest.mark.parametrize("name", ALL)
def test_every_option_says_what_it_does_and_its_default(name: str) -> None:
    cmd = commands()[name]
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.name == "help":
            continue
        assert p.help, f"{name} {p.opts}: no help text"
        if p.is_flag or p.count or p.required:
            continue
        assert isinstance(p.show_default, str) or p.default not in (None, ""), \
            f"{name} {p.opts}: no default shown"


@pytest.mark.parametrize("name", [n for n in ALL if not isinstance(commands()[n], click.Group)])
def test_quiet_and_verbose_everywhere(name: str) -> None:
    names = {o for p in commands()[name].params for o in getattr(p, "opts", [])}
    assert {"-q", "--quiet", "-v", "--verbose", "--color"} <= names, (name, names)


def test_docs_cli_md_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == cli_md(), "run 'jibril docs' to refresh docs/cli.md"
    text = cli_md()
    for name in ALL:
        assert f"## `jibril {name}`" in text, name


# ---- -o overrides, config lookup, environment variables ------------------------------------


@pytest.mark.parametrize("args, code, expect", [
    (["-o", "reactions.netpolicy=true"], 0, ["0 error(s), 0 warning(s)"]),
    ([], 1, ["warning JR063"]),
    (["-o", "reactions.mdoe=enforce"], 1, ["<-o reactions.mdoe>:1:1: error JR020", "did you mean 'mode'?"]),
    (["-o", "printrs=[stdout]"], 1, ["<-o printrs>:1:1: error JR020", "did you mean 'printers'?"]),
    (["-o", "reactions.mode=bogus"], 1, ["<-o reactions.mode>:1:1: error JR022", "bogus"]),
    (["-o", "recipes.builtin=\"no\""], 1, ["<-o recipes.builtin>", "JR021"]),
    (["-o", "reactions.mode"], 2, ["-o expects KEY.SUB=VALUE"]),
    (["--set", "reactions.timeout_ms=[1"], 1, ["<-o reactions.timeout_ms>", "JR001"]),
])
def test_overrides(tmp_path: Path, args: list[str], code: int, expect: list[str]) -> None:
    r = jibril("lint", str(NET), "--fail-on", "warning", *args, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == code, out
    for e in expect:
        assert e in out, (e, out)
    assert "Traceback" not in out


def test_overrides_on_replay_go_through_the_same_checks(tmp_path: Path) -> None:
    ev = ALCH / "crypto_miner_executed" / "events.jsonl"
    r = jibril("replay", str(ev), "--from", str(ALCH), "--no-reactions", "-o", "reactions.workers=many",
               cwd=tmp_path)
    assert r.returncode == 1 and "<-o reactions.workers>" in r.stderr, r.stderr


def test_config_lookup_order_and_lint_says_which(tmp_path: Path) -> None:
    r = jibril("lint", str(NET), "-v", cwd=tmp_path)
    assert "config lookup: --config / $JIBRIL_CONFIG (unset), ./jibril.yaml, /etc/jibril/jibril.yaml" in r.stderr
    assert "using no configuration file" in r.stderr and "lint: using" not in r.stderr
    (tmp_path / "jibril.yaml").write_text("reactions: {netpolicy: true}\n")
    r = jibril("lint", str(NET), "--fail-on", "warning", cwd=tmp_path)
    assert r.returncode == 0 and "lint: using configuration jibril.yaml (found" in r.stderr, r.stderr
    other = tmp_path / "other.yaml"
    other.write_text("reactions: {netpolicy: false}\n")
    env = dict(os.environ, JIBRIL_CONFIG=str(other), PYTHONPATH=str(ROOT))
    r = jibril("lint", str(NET), "--fail-on", "warning", cwd=tmp_path, env=env)
    assert r.returncode == 1 and f"configuration {other} (--config)" in r.stderr, r.stderr


def test_envvar_prefix(tmp_path: Path) -> None:
    env = dict(os.environ, JIBRIL_LINT_FAIL_ON="warning", JIBRIL_LINT_FMT="json", PYTHONPATH=str(ROOT))
    r = jibril("lint", str(NET), cwd=tmp_path, env=env)
    assert r.returncode == 1
    assert {d["code"] for d in json.loads(r.stdout)} == {"JR063"}


# ---- output: colour, -q -----------------------------------------------------------------------


def _on_pty(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run with stdout and stderr on a terminal; return what it wrote."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "jibril_rules.cli", *args], stdout=slave, stderr=slave,
                         stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_colour_on_a_terminal_none_with_no_color_or_a_pipe(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["PYTHONPATH"] = str(ROOT)
    assert ANSI.search(_on_pty(["lint", str(f)], env, tmp_path))
    assert not ANSI.search(_on_pty(["lint", str(f)], dict(env, NO_COLOR="1"), tmp_path))
    assert not ANSI.search(_on_pty(["lint", str(f), "--no-color"], env, tmp_path))
    piped = jibril("lint", str(f), cwd=tmp_path, env=env)
    assert "error JR040" in piped.stdout and not ANSI.search(piped.stdout + piped.stderr)
    forced = jibril("lint", str(f), "--color", cwd=tmp_path, env=env)
    assert ANSI.search(forced.stdout)


def test_quiet(tmp_path: Path) -> None:
    r = jibril("test", str(ALCH), "-q")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    r = jibril("lint", str(ALCH), "-q")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    ev = ALCH / "crypto_miner_executed" / "events.jsonl"
    r = jibril("replay", str(ev), "--from", str(ALCH), "--no-reactions", "-q")
    assert "DETECT" in r.stdout and r.stderr == "", r.stderr
    r = jibril("lint", str(NET), "-q", "--no-netpolicy", cwd=tmp_path)
    assert "warning JR063" in r.stdout and "recipe(s) checked" not in r.stderr


# ---- stdin, --fail-on, empty input, recipe paths ----------------------------------------------


def test_stdin_recipes_and_events(tmp_path: Path) -> None:
    r = jibril("lint", "-", stdin=BAD, cwd=tmp_path)
    assert r.returncode == 1 and "<stdin>:4:" in r.stdout and "error JR040" in r.stdout, r.stdout
    assert "^" in r.stdout  # the caret under the source line
    ok = (ALCH / "ld_so_preload_written" / "recipe.yaml").read_text()
    r = jibril("lint", "-", stdin=ok, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    ev = (ALCH / "crypto_miner_executed" / "events.jsonl").read_text()
    r = jibril("replay", "-", "--from", str(ALCH), "--no-reactions", stdin=ev, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.count("DETECT") >= 3, r.stderr
    r = jibril("replay", "-", "--from", str(ALCH), "--no-reactions", stdin="{oops\n", cwd=tmp_path)
    assert r.returncode == 1 and "<stdin>:1:" in r.stderr and "JR090" in r.stderr
    r = jibril("explain", "crypto_miner_executed", "--from", str(ALCH), "--event", "-", stdin=ev, cwd=tmp_path)
    assert r.returncode == 0 and "verdict: MATCH" in r.stdout, r.stderr


def test_fail_on_warning(tmp_path: Path) -> None:
    assert jibril("lint", str(NET), "--no-netpolicy", cwd=tmp_path).returncode == 0
    r = jibril("lint", str(NET), "--no-netpolicy", "--fail-on", "warning", cwd=tmp_path)
    assert r.returncode == 1 and "warning JR063" in r.stdout


def test_empty_input_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = jibril("lint", str(tmp_path / "empty"), cwd=tmp_path)
    assert r.returncode == 2 and "nothing to lint" in r.stderr
    r = jibril("lint", str(tmp_path / "missing"), cwd=tmp_path)
    assert r.returncode == 1 and "JR006" in r.stdout
    r = jibril("test", str(tmp_path / "empty"), cwd=tmp_path)
    assert r.returncode == 2 and "no *.test.yaml" in r.stderr


def test_builtin_recipes_from_any_folder() -> None:
    r = jibril("lint", cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"recipes: the built-in recipes ({ROOT}/jibril_rules/data/alchemies)" in r.stderr
    r = jibril("test", "-q", cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    r = jibril("explain", "crypto_miner_executed", cwd="/")
    assert r.returncode == 0 and "kernel prefilter" in r.stdout, r.stderr
    r = jibril("replay", str(ALCH / "crypto_miner_executed" / "events.jsonl"), "--no-reactions", cwd="/")
    assert r.returncode == 0 and "DETECT crypto_miner_executed" in r.stdout, r.stderr


def test_recipe_paths_from_the_config(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "r.yaml").write_text(BAD)
    r = jibril("lint", "-o", "recipes.builtin=false", "-o", f"recipes.paths=[{mine}]", cwd=tmp_path)
    assert r.returncode == 1 and f"{mine}/r.yaml:4:" in r.stdout and "alchemies" not in r.stdout
    assert f"recipes.paths of the configuration ({mine})" in r.stderr
    r = jibril("lint", "-o", "recipes.builtin=false", cwd=tmp_path)
    assert r.returncode == 2 and "no recipe paths configured" in r.stderr


# ---- list, completion --------------------------------------------------------------------------


@pytest.mark.parametrize("what, keys", [
    ("recipes", {"name", "kind", "mechanism", "importance", "enabled", "mode", "file", "line"}),
    ("fields", {"name", "type", "kinds", "kernel", "doc"}),
    ("operators", {"operator", "applies_to", "value", "doc"}),
    ("helpers", {"name", "group", "jibril", "needs"}),
    ("codes", {"code", "meaning", "description", "help"}),
    ("printers", {"printer", "doc"}),
])
def test_list_json(what: str, keys: set[str], tmp_path: Path) -> None:
    r = jibril("list", what, "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and all(keys <= set(row) for row in rows)
    human = jibril("list", what, cwd=tmp_path)
    assert human.returncode == 0 and len(human.stdout.splitlines()) == len(rows) + 1


def test_list_matches_the_registries(tmp_path: Path) -> None:
    from jibril_rules.core.errors import CODES
    from jibril_rules.core.fields import FIELDS
    from jibril_rules.reactions.helpers import HELPER_ORDER
    got = {w: json.loads(jibril("list", w, "--format", "json", cwd=tmp_path).stdout)
           for w in ("fields", "codes", "helpers", "recipes")}
    assert [r["name"] for r in got["fields"]] == list(FIELDS)
    assert [r["code"] for r in got["codes"]] == list(CODES)
    assert [r["name"] for r in got["helpers"]] == list(HELPER_ORDER)
    names = {r["name"] for r in got["recipes"]}
    assert {"crypto_miner_executed", "reverse_shell_dev_tcp"} <= names
    row = next(r for r in got["recipes"] if r["name"] == "crypto_miner_executed")
    assert row["file"].endswith("crypto_miner_executed/recipe.yaml") and row["importance"] == "critical"


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F"), ("zsh", "#compdef jibril"),
                                           ("fish", "complete --no-files --command jibril")])
def test_completion_scripts(shell: str, marker: str) -> None:
    r = jibril("completion", shell)
    assert r.returncode == 0 and marker in r.stdout and "_JIBRIL_COMPLETE" in r.stdout, r.stdout[:500]


def test_completion_completes() -> None:
    env = dict(os.environ, _JIBRIL_COMPLETE="bash_complete", COMP_WORDS="jibril li", COMP_CWORD="1",
               PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.split() == ["plain,lint", "plain,list"], r.stdout
    env.update(COMP_WORDS="jibril list ", COMP_CWORD="2")
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert "plain,recipes" in r.stdout.split() and "plain,helpers" in r.stdout.split()
