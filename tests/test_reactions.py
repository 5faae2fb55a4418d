"""Reactions runtime: isolation, limits, helpers with real effects, execution model."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from test_reactions_support import js, make_event, make_runtime, recipe, start_sleeper

from jibril_rules.reactions import (
    HELPER_NAMES,
    NETWORK_HELPERS,
    ReactionConfig,
    ReactionSpec,
    check_js,
    check_shell,
)
from jibril_rules.reactions.datastore import DataStore
from jibril_rules.reactions.helpers import JIBRIL_HELPERS


@pytest.fixture()
def rt(tmp_path):
    runtime = make_runtime(tmp_path)
    yield runtime
    runtime.close()


def run1(rt, code, name="r", event=None, **kw):
    return rt.run_now(recipe(name, **kw), [js(code)], event or make_event())[0]


def test_api_constants() -> None:
    assert len(JIBRIL_HELPERS) == 30 and "DataIncr" in HELPER_NAMES
    assert NETWORK_HELPERS < HELPER_NAMES
    cfg = ReactionConfig.from_dict({"reactions": {"mode": "enforce", "net-allowlist": ["10.0.0.0/8"]}})
    assert cfg.mode == "enforce" and cfg.net_allowlist == ("10.0.0.0/8",)
    with pytest.raises(ValueError):
        ReactionConfig.from_dict({"bogus": 1})


def test_globals_and_sync_helpers(rt) -> None:
    rec = run1(rt, """
        function process(d) {
          Info(kind + "|" + name + "|" + uuid + "|" + (d === data) + "|" + data.process.cmd);
          Info(typeof DataSet("k", 42), DataGet("k"), DataIncr("n"), DataIncr("n", 2.5));
          Info(ReadFile("/nonexistent/x") === "", Errno() !== "", Stat("/nonexistent") === null);
        }""")
    assert rec.status == "ok", rec.error
    assert rec.logs == ("INFO: test_kind|r|evt-1|true|xmrig --pool x",
                        "INFO: number 42 1 3.5", "INFO: true true true")


def test_data_store_forms_and_namespaces(rt) -> None:
    rec = run1(rt, """
        function process(d) {
          DataClear();
          DataPush("a"); DataPush("b");
          let p1 = DataPop(), p2 = DataPop(), p3 = DataPop();
          DataPush("ips", "1.1.1.1"); DataPush("ips", "2.2.2.2");
          DataSet("x", "1"); DataSet("y", "2"); DataSet("shared:corr", "seen");
          Info([p1, p2, p3 === "", DataPop("ips"), DataKeys(), DataValues(), DataSize(),
                DataIsEmpty(), DataHasKey("x"), DataHasKey("ips"), DataHasValue("2"),
                DataHasKey("nope")].join(" "));
          DataDelete("x");
          Info(DataSize());
        }""", name="one")
    assert rec.status == "ok", rec.error
    assert rec.logs == ('INFO: b a true 2.2.2.2 ["x","y"] ["1","2"] 2 false true true true false',
                        "INFO: 1")
    other = run1(rt, "function process(d){ Info(DataGet('y') === '', DataGet('shared:corr')) }",
                 name="two")
    assert other.logs == ("INFO: true seen",)


def test_prototype_pollution_and_globals_do_not_leak(rt) -> None:
    evil = """
        Object.prototype.polluted = "yes";
        Array.prototype.push = function () { return "hijacked"; };
        JSON.parse = () => 1;
        function process(d) {
          globalThis.leaked = 1; implicitGlobal = 2; var local = 3;
          try { Info = () => 0; } catch (e) {}
          Info("own view", ({}).polluted, typeof leaked);
        }"""
    first = run1(rt, evil, name="evil")
    assert first.status == "ok", first.error
    assert first.logs == ("INFO: own view undefined number",)
    probe = """function process(d) {
        let a = []; a.push(1);
        Info(({}).polluted, typeof leaked, typeof implicitGlobal, a.length, typeof JSON.parse("{}"));
    }"""
    expected = ("INFO: undefined undefined undefined 1 object",)
    assert run1(rt, probe, name="evil").logs == expected  # other code, same recipe
    assert run1(rt, evil.replace("own view", "second"), name="evil").logs == \
        ("INFO: second undefined number",)
    assert run1(rt, probe, name="other").logs == expected
    # overriding inherited methods on one's own objects still works
    rec = run1(rt, """function process(d) {
        class E2 extends Error {}; const e = new E2("m"); e.name = "Custom";
        const o = {}; o.toString = () => "mine";
        Info(String(o), e.name, e instanceof Error);
    }""")
    assert rec.logs == ("INFO: mine Custom true",)


def test_no_host_access(rt) -> None:
    rec = run1(rt, """function process(d) {
        Info(typeof require, typeof fetch, typeof XMLHttpRequest, typeof WebAssembly,
             typeof setTimeout, typeof Deno, typeof Bun, typeof globalThis.process);
        let r = "none";
        try { import("fs").then(() => {}, () => {}); r = "promise"; } catch (e) { r = "threw"; }
        Info(r);
    }""")
    assert rec.status == "ok", rec.error
    assert rec.logs[0] == "INFO: undefined undefined undefined undefined undefined undefined " \
                          "undefined undefined"
    static_import = run1(rt, 'import fs from "fs";\nfunction process(d) {}')
    assert static_import.status == "error" and "SyntaxError" in static_import.error
    req = run1(rt, 'function process(d) { require("child_process").execSync("id") }')
    assert req.status == "error" and "require is not defined" in req.error


def test_hostile_reactions_are_contained(rt) -> None:
    t0 = time.monotonic()
    loop = run1(rt, "function process(d) { while (true) {} }", timeout_ms=300)
    assert loop.status == "timeout" and time.monotonic() - t0 < 2.0
    bomb = run1(rt, "function process(d) { let a = []; for (;;) a.push(new Array(1e5).fill(1.5)); }",
                memory_mb=32)
    assert bomb.status == "memory"
    buffers = run1(rt, "function process(d) { let a = []; for (;;) a.push(new Uint8Array(1 << 24).fill(1)); }",
                   memory_mb=32)
    assert buffers.status == "memory" and "32 MB" in buffers.error  # V8's allocator refused
    thrown = run1(rt, "function process(d) {\n  throw new TypeError('boom');\n}")
    assert thrown.status == "error" and "TypeError: boom" in thrown.error
    assert "reaction:2:" in thrown.error
    nothing = run1(rt, "let x = 1;")
    assert nothing.status == "error" and "no process(data)" in nothing.error
    syntax = run1(rt, "function process(d) { let = ; }")
    assert syntax.status == "error" and "SyntaxError" in syntax.error
    escape = run1(rt, "}); (function(){ Info('escaped');")
    assert escape.status == "error" and escape.calls == ()
    ok = run1(rt, "function process(d) { Info('alive') }")
    assert ok.status == "ok"
    s = rt.stats()
    assert s["timeout"] == 1 and s["memory"] == 2 and s["error"] >= 4


def test_kill_helpers_real_and_refused(tmp_path) -> None:
    rt = make_runtime(tmp_path, mode="enforce", protected_names=("protectme",))
    victim = start_sleeper()
    try:
        assert victim.pid >= 500, "sleep got a pid below 500: cannot test"
        rec = run1(rt, f"""function process(d) {{
            Info(KillProcess(1), Errno());
            Info(KillProcess(42), Errno());
            Info(KillProcess({os.getpid()}), Errno());
            Info(KillProcess({os.getppid()}), Errno());
            Info(KillProcess(2), Errno());
            Info(KillProcess("abc"), Errno());
            Info(KillCurrent());
        }}""", event=make_event(pid=victim.pid))
        assert rec.status == "ok", rec.error
        refusals = rec.logs[:5]
        assert refusals[0].startswith("INFO: -1 refusing to kill pid 1: below the minimum")
        assert refusals[1].startswith("INFO: -1 refusing to kill pid 42")
        assert "the agent itself or its ancestor" in refusals[2]
        # our parent may itself have a pid below 500 (then that rule speaks first)
        assert "the agent itself or its ancestor" in refusals[3] or (
            os.getppid() < 500 and "below the minimum" in refusals[3]), refusals[3]
        assert refusals[4].startswith("INFO: -1")
        assert rec.logs[5].startswith("INFO: -1 invalid pid")
        assert rec.logs[6] == "INFO: 0"
        assert victim.wait(timeout=5) == -signal.SIGKILL
        again = run1(rt, "function process(d) { Info(KillCurrent(), Errno()) }",
                     event=make_event(pid=victim.pid))
        assert again.logs[0].startswith("INFO: 1 pid")  # already gone: no effect
    finally:
        victim.kill()
        victim.wait()
        rt.close()


def test_monitor_mode_records_without_acting(tmp_path) -> None:
    rt = make_runtime(tmp_path, mode="monitor")
    victim = start_sleeper()
    try:
        rec = run1(rt, "function process(d) { Info(KillCurrent()); }",
                   event=make_event(pid=victim.pid))
        assert rec.calls[0].dry_run and rec.calls[0].result == 0 and rec.mode == "monitor"
        assert victim.poll() is None
        rt.set_mode("enforce", recipe_name="r")
        rec = run1(rt, "function process(d) { KillCurrent(); }", event=make_event(pid=victim.pid))
        assert rec.mode == "enforce" and not rec.calls[0].dry_run
        assert victim.wait(timeout=5) == -signal.SIGKILL
        assert run1(rt, "function process(d) {}", name="other").mode == "monitor"
    finally:
        victim.kill()
        victim.wait()
        rt.close()


def test_files_confinement(tmp_path) -> None:
    rt = make_runtime(tmp_path, mode="enforce")
    try:
        outside = tmp_path.parent / "not-allowed.txt"
        rec = run1(rt, f"""function process(d) {{
            let dir = CreateTempDir("ev-*");
            Info(dir);
            Info(WriteFile(dir + "/a.txt", "hello"), ReadFile(dir + "/a.txt"));
            let st = Stat(dir + "/a.txt");
            Info(st.size, st.mode, st.isDir, typeof st.modTime, Stat(dir).isDir);
            Info(WriteFile("{outside}", "x"), Errno());
            Info(WriteFile("/etc/passwd-jr", "x"));
            Info(RemoveDir("/etc"), RemoveDir("{tmp_path}"), CreateTempDir("../x"));
            Info(RemoveDir(dir), RemoveDir(dir));
        }}""")
        assert rec.status == "ok", rec.error
        d = rec.logs[0][len("INFO: "):]
        assert d.startswith(str(tmp_path) + "/ev-")
        assert rec.logs[1] == "INFO: 0 hello"
        assert rec.logs[2] == "INFO: 5 -rw------- false string true"
        assert rec.logs[3].startswith("INFO: -1 WriteFile") and "writable roots" in rec.logs[3]
        assert rec.logs[4] == "INFO: -1"
        assert rec.logs[5] == "INFO: -1 -1 "
        assert rec.logs[6] == "INFO: 0 1"
        assert not outside.exists() and not os.path.exists(d)
    finally:
        rt.close()


def test_poweroff_and_panic_gate(tmp_path) -> None:
    # Never enable them together with enforce mode here: the machine would stop.
    rt = make_runtime(tmp_path, mode="enforce")
    try:
        rec = run1(rt, "function process(d) { Info(PowerOff(), Panic(), Errno()) }")
        assert rec.logs[0] == "INFO: -1 -1 Panic is disabled by configuration (allow_panic)"
        assert all(c.dry_run for c in rec.calls[:2])
    finally:
        rt.close()
    rt = make_runtime(tmp_path, mode="monitor", allow_poweroff=True, allow_panic=True)
    try:
        rec = run1(rt, "function process(d) { Info(PowerOff(), Panic()) }")
        assert rec.logs[0] == "INFO: 0 0" and rec.calls[0].dry_run and rec.calls[1].dry_run
    finally:
        rt.close()


def test_network_helpers_degrade_without_netpolicy(rt) -> None:
    rec = run1(rt, "function process(d) { Info(NetBlockIp(), Errno()) }")
    assert rec.logs[0].startswith("INFO: -1 network policy is disabled")


def test_network_monitor_mode_validates(tmp_path) -> None:
    rt = make_runtime(tmp_path, netpolicy=True, net_allowlist=("198.51.100.0/24",))
    try:
        rec = run1(rt, """function process(d) {
            Info(NetBlockIp(), NetBlockIp("127.0.0.1"), NetBlockIp("198.51.100.7"),
                 NetBlockIp("nonsense"), NetBlockIpTimer("203.0.113.5", 30));
        }""")
        assert rec.logs == ("INFO: 0 -1 -1 -1 0",)
        assert rec.calls[0].dry_run and "allowlisted" in rec.calls[1].errno
    finally:
        rt.close()


def test_data_store_survives_kill9(tmp_path) -> None:
    db = str(tmp_path / "state" / "reactions.sqlite")
    writer = textwrap.dedent(f"""
        import sys
        from jibril_rules.reactions.datastore import DataStore
        s = DataStore({db!r})
        s.set("r", "stable", "kept")
        print("ready", flush=True)
        i = 0
        while True:
            i += 1
            s.incr("r", "counter", 1)
            s.set("r", "blob", "x" * (i % 5000))
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE,
                            cwd=os.getcwd())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.4)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        proc.kill()
        proc.wait()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    store = DataStore(db)
    assert store.get("r", "stable") == "kept"
    assert int(store.get("r", "counter") or 0) > 0
    blob = store.get("r", "blob") or ""
    assert set(blob) <= {"x"}
    store.close()


def test_parallel_reactions_and_atomic_counter(tmp_path) -> None:
    rt = make_runtime(tmp_path, workers=4)
    try:
        busy = "function process(d) { const end = Date.now() + 250; while (Date.now() < end) {} }"
        t0 = time.monotonic()
        recs = rt.run_now(recipe("par"), [js(busy, i) for i in range(3)], make_event())
        assert [r.index for r in recs] == [0, 1, 2] and all(r.ok for r in recs)
        assert time.monotonic() - t0 < 0.7  # parallel, not 3 x 250 ms
        incr = [js("function process(d) { for (let i = 0; i < 50; i++) DataIncr('c'); }", i)
                for i in range(4)]
        for _ in range(3):
            rt.run_now(recipe("cnt"), incr, make_event())
        assert rt.services.store.get("cnt", "c") == "600"
    finally:
        rt.close()


def test_submit_queue_rate_limit_dedup_audit(tmp_path) -> None:
    rt = make_runtime(tmp_path, workers=1, queue_size=2, rate_limit=3, rate_window_s=60)
    try:
        slow = [js("function process(d) { const e = Date.now() + 100; while (Date.now() < e) {} }")]
        accepted = [rt.submit(recipe("q"), slow, make_event(uuid=f"e{i}")) for i in range(5)]
        assert accepted[:2] == [True, True] and not all(accepted)
        assert rt.drain(10)
        s = rt.stats()
        assert s["overflow"] == accepted.count(False)
        recs = [rt.run_now(recipe("rl"), [js("function process(d){}")], make_event(uuid=f"u{i}"))[0]
                for i in range(5)]
        assert [r.status for r in recs] == ["ok"] * 3 + ["rate_limited"] * 2
    finally:
        rt.close()
    rt = make_runtime(tmp_path, dedup_window_s=30)
    try:
        a = run1(rt, "function process(d){}", event=make_event(uuid="a"))
        b = run1(rt, "function process(d){}", event=make_event(uuid="b"))
        c = run1(rt, "function process(d){}", event=make_event(uuid="c", cmd="other"))
        assert (a.status, b.status, c.status) == ("ok", "deduped", "ok")
    finally:
        rt.close()
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {"recipe", "uuid", "start", "duration_ms", "calls", "mode", "status", "error"} <= set(lines[0])
    assert {x["status"] for x in lines} >= {"ok", "rate_limited", "deduped"}


def test_shell_reactions(tmp_path) -> None:
    rt = make_runtime(tmp_path, mode="enforce", timeout_ms=500)
    try:
        code = 'echo "$REACTION_UUID $name"; stat -c %a .; pwd; echo "$REACTION_DATA" | head -c 9'
        rec = rt.run_now(recipe("sh"), [ReactionSpec("shell", code)], make_event())[0]
        assert rec.status == "ok", rec
        assert rec.logs[0] == "OUT: evt-1 sh" and rec.logs[1] == "OUT: 700"
        workdir = rec.logs[2][len("OUT: "):]
        assert workdir.startswith(str(tmp_path)) and not os.path.exists(workdir)
        assert rec.logs[3] == 'OUT: {"uuid":"'
        t0 = time.monotonic()
        slow = rt.run_now(recipe("sh"), [ReactionSpec("shell", "sleep 30 & sleep 30")],
                          make_event())[0]
        assert slow.status == "timeout" and time.monotonic() - t0 < 3
        bad = rt.run_now(recipe("sh"), [ReactionSpec("shell", "exit 3")], make_event())[0]
        assert bad.status == "error" and bad.extra["returncode"] == 3
        rt.set_mode("monitor")
        dry = rt.run_now(recipe("sh"), [ReactionSpec("shell", "touch /tmp/x")], make_event())[0]
        assert dry.extra.get("dry_run") is True
    finally:
        rt.close()


def test_check_js_and_shell() -> None:
    issues = check_js("function process(data) {\n  let x = ;\n}")
    assert len(issues) == 1 and (issues[0].line, issues[0].column) == (2, 11)
    assert "SyntaxError" in issues[0].message
    issues = check_js("function process(data) {\n  Info('x');\n  KillEverything();\n}")
    assert [(i.line, i.column, i.severity) for i in issues] == [(3, 3, "error")]
    assert "did you mean Kill" in issues[0].message
    assert any("no process" in i.message for i in check_js("Info('x');"))
    assert check_js("}); (function(){")  # cannot escape the function wrapper
    assert check_js("while(true){}\nfunction process(d){}") == []  # compiled, never run
    assert check_shell("echo ok") == []
    bad = check_shell("echo ok\nif then fi")
    assert bad and bad[0].line == 2
    assert stat.S_IMODE(0o700) == 0o700
