"""Jibril compatibility (issue 7): Errno() semantics and calls to unknown helpers."""

from __future__ import annotations

from pathlib import Path

from jibril_rules.reactions import (
    ReactionConfig,
    ReactionRuntime,
    ReactionSpec,
    RecipeRef,
    check_js,
)


def _run(tmp_path: Path, code: str) -> tuple[list[str], str | None]:
    with ReactionRuntime(ReactionConfig(state_dir=str(tmp_path / "s"), temp_root=str(tmp_path),
                                        log_to_python=False)) as rt:
        (rec,) = rt.run_now(RecipeRef("k", "compat"), [ReactionSpec("js", code)], {"uuid": "u"})
    return list(rec.logs), rec.error


def test_errno_survives_log_helpers_like_jibrils_own_tests(tmp_path: Path) -> None:
    logs, err = _run(tmp_path, """
      function process(data) {
        const r = KillProcess(1);
        Info("res " + r);
        if (r < 0) Error("fail " + Errno());
        Warn("still: " + Errno());
        Info(Errno() === Errno());
        DataSet("k", "v");             // a success of a helper that can fail clears it
        Info("after success: [" + Errno() + "]");
        ReadFile("/nonexistent/jr-compat");   // the next failure replaces it
        Info("next: " + Errno());
      }""")
    assert err is None
    assert logs[0] == "INFO: res -1"
    assert logs[1].startswith("ERROR: fail ") and "pid 1" in logs[1], logs
    assert logs[2] == "WARN: still: " + logs[1][len("ERROR: fail "):]
    assert logs[3] == "INFO: true"
    assert logs[4] == "INFO: after success: []"
    assert logs[5].startswith("INFO: next: ReadFile /nonexistent/jr-compat")


def test_misspelt_helper_fails_at_run_time_with_the_nearest_name(tmp_path: Path) -> None:
    _, err = _run(tmp_path, "function process(data) { KillCurent(); }")
    assert err is not None and "ReferenceError: KillCurent is not defined" in err
    assert "did you mean KillCurrent?" in err and "reaction:1:" in err


def test_check_js_unknown_helper_is_an_error_unless_defined_in_the_code() -> None:
    (issue,) = check_js("function process(data) {\n  KillCurent();\n}")
    assert (issue.line, issue.column, issue.severity) == (2, 3, "error")
    assert "did you mean KillCurrent?" in issue.message
    assert check_js("function KillCurent() {}\nfunction process(data) { KillCurent(); }") == []
    assert check_js("const DataGett = () => 1;\nfunction process(data) { DataGett(); }") == []
    # a name that looks like no helper stays a warning (it may come from code we cannot see)
    (w,) = check_js("function process(data) { implementIncidentResponse(); }")
    assert w.severity == "warning"
