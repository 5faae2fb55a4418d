"""`jibril test`: per-event assertions, absent actions, reaction failures, stateful sequences,
type-checked test files with located errors, and every test counted in the summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Log the first two times, kill the third: the data store is carried across the replays.
RECIPE = """\
- kind: k
  name: passwd_w
  mechanism: file_access
  file_actions: [write]
  bases: [{dir: /etc, base: passwd}]
  reactions:
    - format: js
      code: |
        function process(data) {
          var n = DataIncr("writes");
          if (n >= 3) { KillCurrent(); } else { Info("write " + n); }
        }
- kind: k
  name: shadow_w
  mechanism: file_access
  file_actions: [write]
  bases: [{dir: /etc, base: shadow}]
  reactions:
    - format: js
      code: |
        function process(data) {
          if (data.process.comm == "boom") { throw new Error("reaction broke"); }
          Info("shadow");
        }
"""
EV_A = "{uuid: a, process: {pid: 4242, comm: x}, file: {file: /etc/passwd, actions: [write]}}"
EV_S = "{uuid: s, process: {pid: 4243, comm: boom}, file: {file: /etc/shadow, actions: [write]}}"


def run_test(tmp_path: Path, tests: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "r.yaml").write_text(RECIPE)
    (tmp_path / "r.test.yaml").write_text("tests:\n" + tests)
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", "test", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_stateful_sequence_log_then_kill_the_third_time(tmp_path: Path) -> None:
    r = run_test(tmp_path, f"""\
  - name: third write is killed
    events: [{EV_A}]
    repeat: 3
    expect: {{passwd_w: [a]}}
    actions:
      - {{recipe: passwd_w, helper: Info, args: ["write 1"], run: 1}}
      - {{recipe: passwd_w, helper: KillCurrent, run: 3}}
    not_actions:
      - {{recipe: passwd_w, helper: KillCurrent, run: 1}}
      - {{recipe: passwd_w, helper: KillCurrent, run: 2}}
""")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed, 0 failed" in r.stdout


def test_not_actions_fail_with_their_location(tmp_path: Path) -> None:
    r = run_test(tmp_path, f"""\
  - name: no kill ever (wrong)
    events: [{EV_A}]
    repeat: 3
    expect: {{passwd_w: [a]}}
    not_actions:
      - {{recipe: passwd_w, helper: KillCurrent}}
""")
    assert r.returncode == 1
    assert f"{tmp_path / 'r.test.yaml'}:7:9: KillCurrent() by passwd_w must not happen" in r.stdout
    assert "run 3" in r.stdout


def test_per_event_assertions(tmp_path: Path) -> None:
    r = run_test(tmp_path, f"""\
  - name: per event
    events: [{EV_A}, {EV_S}]
    strict: false
    errors: [{{recipe: shadow_w}}]
    per_event:
      a:
        detect: [passwd_w]
        not_detect: [shadow_w]
        actions: [{{recipe: passwd_w, helper: Info}}]
        not_actions: [{{recipe: passwd_w, helper: KillCurrent}}]
      s:
        detect: [shadow_w]
        not_actions: [{{recipe: shadow_w, helper: Info}}]
""")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_test(tmp_path, f"""\
  - name: per event, wrong
    events: [{EV_A}, {EV_S}]
    strict: false
    errors: [{{recipe: shadow_w}}]
    per_event:
      s:
        detect: [passwd_w]
        actions: [{{recipe: passwd_w, helper: Info}}]
""")
    assert r.returncode == 1
    assert "event s: passwd_w did not detect it" in r.stdout
    assert "expected Info() by passwd_w on event s; saw DataIncr (event a), Info (event a)" in r.stdout


def test_reaction_errors_are_asserted(tmp_path: Path) -> None:
    unlisted = run_test(tmp_path, f"""\
  - name: a reaction throws
    events: [{EV_S}]
    expect: {{shadow_w: [s]}}
    actions: [{{recipe: shadow_w, helper: Info}}]
""")
    assert unlisted.returncode == 1
    assert "reaction of shadow_w on event s (run 1) ended with error" in unlisted.stdout
    assert "reaction broke" in unlisted.stdout
    listed = run_test(tmp_path, f"""\
  - name: a reaction throws, as expected
    events: [{EV_S}]
    expect: {{shadow_w: [s]}}
    errors: [{{recipe: shadow_w, status: error, message: reaction broke, event: s}}]
""")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    none = run_test(tmp_path, f"""\
  - name: no failure although one is expected
    events: [{EV_A}]
    expect: {{passwd_w: [a]}}
    errors: [{{recipe: passwd_w}}]
""")
    assert none.returncode == 1 and "every reaction succeeded" in none.stdout


def test_type_checked_test_file_with_located_errors_and_suggestions(tmp_path: Path) -> None:
    r = run_test(tmp_path, f"""\
  - name: string instead of a list
    events: [{EV_A}]
    expect: {{passwd_w: "a"}}
  - name: unknown recipe
    events: [{EV_A}]
    expect: {{passwd_ww: [a]}}
  - name: bad action
    events: [{EV_A}]
    actions: [{{recipe: passwd_w}}]
    repeat: 0
  - name: fine
    events: [{EV_A}]
    expect: {{passwd_w: [a]}}
""")
    f = tmp_path / "r.test.yaml"
    assert r.returncode == 1
    assert f"{f}:4:24: error JR021: 'test.expect.passwd_w' must be a list of event uuids" in r.stderr
    assert "did not detect ['a']" not in r.stdout  # no more per-character nonsense
    assert f"{f}:7:14: error JR052: 'test.expect.passwd_ww' names unknown recipe 'passwd_ww'" in r.stderr
    assert "did you mean 'passwd_w'?" in r.stderr
    assert f"{f}:10:15: error JR023: 'test.actions[0].helper' is required" in r.stderr
    assert f"{f}:11:13: error JR022: 'test.repeat' is 0" in r.stderr
    assert "1 passed, 3 failed" in r.stdout  # every test counted
    assert "Traceback" not in r.stdout + r.stderr


def test_an_events_error_points_at_its_own_line(tmp_path: Path) -> None:
    r = run_test(tmp_path, f"""\
  - name: second event is bad
    events:
      - {EV_A}
      - {{uuid: b, file: [not, a, mapping]}}
    expect: {{passwd_w: [a]}}
""")
    assert r.returncode == 1
    assert f"{tmp_path / 'r.test.yaml'}:5:9: error JR090" in r.stderr, r.stderr
    assert "0 passed, 1 failed" in r.stdout


def test_unreadable_test_file_is_counted(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    (tmp_path / "r.test.yaml").write_text("tests: [\n")
    (tmp_path / "s.test.yaml").write_text("tsets: []\n")
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "test", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "0 passed, 2 failed" in r.stdout
    assert "JR001" in r.stderr and "did you mean 'tests'?" in r.stderr
