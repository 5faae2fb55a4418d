"""Bad command lines across every command: a located message and an exit code, never a traceback.

Exit codes: 1 for errors in the inputs or the environment (a file that cannot be read or
written, bad recipes, bad config), 2 for bad usage (unknown options, printers, values).
Every path that would write outside the test's temporary folder points into a missing
folder below it, so nothing is created on the host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RECIPE = ("- kind: k\n  name: passwd_w\n  mechanism: file_access\n  file_actions: [write]\n"
          "  bases: [{dir: /etc, base: passwd}]\n")
EVENT = {"uuid": "e1", "file": {"file": "/etc/passwd", "actions": ["write"]},
         "process": {"pid": 4242, "comm": "x", "exe": "/usr/bin/x"}}


def jibril(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, JIBRIL_RULES_STATE=str(cwd / "state"))
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A workspace: a recipe folder, events, configs and broken inputs."""
    t = tmp_path_factory.mktemp("clierr")
    (t / "r").mkdir()
    (t / "r" / "r.yaml").write_text(RECIPE)
    (t / "ev.jsonl").write_text(json.dumps(EVENT) + "\n")
    (t / "bad.yaml").write_text("reactions:\n  workers: \"four\"\n  allow_poweroff: \"false\"\n")
    (t / "badprinter.yaml").write_text("printers: [stdout, foo]\n")
    (t / "garbage.jbundle").write_text("garbage\n")
    (t / "notjson.jsonl").write_text("{not json\n")
    (t / "bin.yaml").write_bytes(b"- kind: \xff\xfe\n")
    (t / "afile").write_text("x")
    (t / "emptydir").mkdir()
    (t / "badrecipe").mkdir()
    (t / "badrecipe" / "r.yaml").write_text("- kind: k\n  name: x\n  mechanism: nope\n")
    (t / "tests").mkdir()
    (t / "tests" / "r.yaml").write_text(RECIPE)
    (t / "tests" / "r.test.yaml").write_text(
        "tests:\n  - name: t\n    events: [{uuid: a, file: {file: /etc/passwd, actions: [write]}}]\n"
        "    expect: {recipe: passwd_w}\n")
    # a bundle whose hash is right but whose body is malformed
    import xxhash
    body = {"recipes": [{"index": "x"}], "atoms": [], "tables": {}, "tree": {}}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    (t / "malformed.jbundle").write_text(json.dumps(
        {"format": "jibril-bundle", "version": 1, "hash": xxhash.xxh3_64_hexdigest(canon), "body": body}))
    return {"tmp": str(t), "r": str(t / "r"), "ev": str(t / "ev.jsonl"), "missing": str(t / "missing" / "x"),
            "bad_cfg": str(t / "bad.yaml"), "badprinter": str(t / "badprinter.yaml"),
            "garbage": str(t / "garbage.jbundle"), "malformed": str(t / "malformed.jbundle"),
            "notjson": str(t / "notjson.jsonl"), "bin": str(t / "bin.yaml"), "afile": str(t / "afile"),
            "badrecipe": str(t / "badrecipe"), "tests": str(t / "tests"), "emptydir": str(t / "emptydir")}


# (command line with {placeholders}, exit code, words the output must contain)
BAD: list[tuple[str, int, str]] = [
    # lint
    ("lint {r} --format sarif --output {missing}.sarif", 1, "cannot write"),
    ("lint {r} --output {tmp}", 1, "cannot write"),
    ("lint {r} -o reactions.mdoe=enforce", 1, "did you mean 'mode'"),
    ("lint {r} -o reactions.mode", 2, "KEY.SUB=VALUE"),
    ("lint {r} -o reactions.workers=four", 1, "<-o reactions.workers>"),
    ("lint {missing}", 1, "JR006"),
    ("lint {r} --config {missing}.yaml", 1, "JR006"),
    ("lint {r} --config {bad_cfg}", 1, "JR021"),
    ("lint --format xml {r}", 2, "Invalid value"),
    ("lint {emptydir}", 2, "nothing to lint"),
    ("lint {bin}", 1, "JR005"),
    ("lint {r} --bogus-option", 2, "No such option"),
    # compile
    ("compile {r} -o {missing}.jbundle", 1, "cannot write"),
    ("compile {r} -o {tmp}", 1, "cannot write"),
    ("compile {r}", 2, "Missing option"),
    ("compile {missing} -o {tmp}/x.jbundle", 1, "JR006"),
    ("compile {badrecipe} -o {tmp}/y.jbundle", 1, "JR022"),
    # explain
    ("explain nosuch --from {r}", 2, "no recipe named"),
    ("explain passwd_w --from {missing}", 1, "JR006"),
    ("explain passwd_w --from {r} --event {missing}.jsonl", 1, "JR006"),
    ("explain passwd_w --from {garbage}", 1, "JR080"),
    ("explain passwd_w --from {malformed}", 1, "JR080"),
    ("explain passwd_w --from {r} --event {notjson}", 1, "JR090"),
    # replay
    ("replay {ev} --from {r} --output out.jsonl", 2, "jsonl:out.jsonl"),
    ("replay {ev} --from {r} --output jsonl:{missing}.jsonl", 1, "cannot write"),
    ("replay {ev} --from {r} --reactions-output {missing}.jsonl", 1, "cannot write"),
    ("replay {ev} --from {r} --output http:ftp://x", 2, "URL"),
    ("run --from {r} --metrics-listen nonsense --for 1 --control ''", 2, "HOST:PORT"),
    ("replay {missing}.jsonl --from {r}", 1, "JR006"),
    ("replay {tmp} --from {r}", 1, "JR006"),
    ("replay {ev} --from {r} --config {bad_cfg}", 1, "JR021"),
    ("replay {ev} --from {r} --config {badprinter}", 1, "unknown printer"),
    ("replay {ev} --from {r} --dry-run --enforce", 2, "exclude each other"),
    ("replay {ev} --from {r} --aggregate abc", 2, "not a valid float"),
    ("replay {ev} --from {r} --aggregate -5", 2, "--aggregate"),
    ("replay {ev} --from {garbage}", 1, "JR080"),
    ("replay {ev} --from {malformed}", 1, "JR080"),
    ("replay {notjson} --from {r}", 1, "JR090"),
    ("replay", 2, "Missing argument"),
    # test
    ("test {missing}", 1, "JR006"),
    ("test {tests}", 1, "JR021"),
    ("test {emptydir}", 2, "no *.test.yaml"),
    ("test {tests} --junit {missing}.xml", 1, "cannot write"),
    # ctl
    ("ctl mode", 2, "say which mode"),
    ("ctl bogus", 2, "Invalid value"),
    ("ctl mode loud", 2, "Invalid value"),
    ("ctl ping --socket {missing}.sock", 1, "no agent answers"),
    # docs
    ("docs --out {afile}/sub", 1, "cannot write"),
    # doctor
    ("doctor --from {missing}", 1, "JR006"),
    ("doctor --bogus", 2, "No such option"),
    # run / record (refused before any sensor starts)
    ("run --from {r} --dry-run --enforce --control ''", 2, "exclude each other"),
    ("run --from {r} --output out.jsonl --for 1 --control ''", 2, "jsonl:out.jsonl"),
    ("run --from {r} --config {bad_cfg} --for 1 --control ''", 1, "JR021"),
    ("run --from {r} --config {badprinter} --for 1 --control ''", 1, "unknown printer"),
    ("run --from {r} --for -1 --control ''", 2, "--for"),
    ("record -o {missing}.jsonl --for 1", 1, "cannot write"),
    # service (below a file: nothing is written)
    ("service bogus", 2, "No such command"),
    ("service install --root {afile}/root --no-verify", 1, "error:"),
    ("service install --root {afile}/root --recipes {missing}", 2, "no such file"),
    # list, completion, setup
    ("list bogus", 2, "Invalid value"),
    ("list recipes --from {missing}", 1, "JR006"),
    ("list recipes -o recipes.builtin=maybe", 1, "<-o recipes.builtin>"),
    ("completion tcsh", 2, "Invalid value"),
    ("setup --bogus", 2, "No such option"),
    # fleet: keys, signatures, the registry (nothing listens on port 1)
    ("keygen", 2, "Missing option"),
    ("keygen --out {missing}/k", 1, "cannot write the key"),
    ("sign {garbage} --key {missing}.key", 1, "JR080"),
    ("sign {r}", 2, "Missing option"),
    ("verify {garbage} --key {missing}.pub", 1, "cannot read the public key"),
    ("verify {garbage}", 2, "Missing option"),
    ("push {garbage} 127.0.0.1:1/x/y:z --plain-http", 1, "JR080"),
    ("pull 'not a ref' -o {tmp}/p.jbundle", 1, "JR083"),
    ("pull 127.0.0.1:1/x/y:z -o {tmp}/p.jbundle --plain-http", 1, "registry unreachable"),
    ("pull 127.0.0.1:1/x/y:z", 2, "Missing option"),
    ("tag 127.0.0.1:1/x/y:z stable --plain-http", 1, "registry unreachable"),
    # the group
    ("bogus", 2, "No such command"),
    ("--bogus", 2, "No such option"),
]


def _argv(line: str, ws: dict[str, str]) -> list[str]:
    import shlex
    return shlex.split(line.format(**ws))


@pytest.mark.parametrize(("line", "code", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_command_line(ws: dict[str, str], line: str, code: int, words: str) -> None:
    r = jibril(*_argv(line, ws), cwd=Path(ws["tmp"]))
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    assert r.returncode == code, f"exit {r.returncode}, wanted {code}:\n{out}"
    assert words in out, out
    assert not Path(ws["missing"]).parent.exists(), "a missing folder was created"


def test_table_is_large_and_covers_every_command() -> None:
    assert len(BAD) >= 30
    commands = {b[0].split()[0] for b in BAD}
    from jibril_rules.cli import main
    missing = set(main.commands) - commands
    assert not missing, f"commands without a bad command line in this table: {sorted(missing)}"


def test_unexpected_exception_is_one_line_with_a_hint(tmp_path: Path) -> None:
    """The last-resort handler: an internal error is one line, an exit code and where to report."""
    code = ("import sys, click\nfrom jibril_rules import cli\n"
            "@cli.main.command('boom')\ndef boom() -> None:\n    raise RuntimeError('kaboom')\n"
            "sys.argv = ['jibril', 'boom']\ncli.entry()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "JIBRIL_DEBUG"})
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 70, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert "kaboom" in lines[0] and "RuntimeError" in lines[0]
    assert any("report" in x for x in lines) and len(lines) <= 2, lines


def test_broken_pipe_is_quiet(ws: dict[str, str]) -> None:
    """`jibril lint ... | head -1`: the reader goes away; no traceback."""
    p = subprocess.Popen([sys.executable, "-m", "jibril_rules.cli", "docs", "--help"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ws["tmp"])
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err, err
