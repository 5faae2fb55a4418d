"""Observability without root: metrics registry and docs, the HTTP server, Falco-shaped alerts,
the webhook and syslog outputs against servers the test runs on 127.0.0.1, logging, config."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from falco_payload import check_falcosidekick_payload

from jibril_rules.observe.alerts import FALCO_KEYS, PRIORITY, alert
from jibril_rules.observe.hub import Observer
from jibril_rules.observe.metrics import METRICS, metrics_md
from jibril_rules.observe.outputs import HttpPrinter, HttpSettings, SyslogPrinter, SyslogSettings
from jibril_rules.observe.server import serve, stop

ROOT = Path(__file__).resolve().parent.parent
ALCH = ROOT / "alchemies"


def jibril(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Any:
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env=env)


def detections(tmp_path: Path) -> list[dict[str, Any]]:
    events = ALCH / "crypto_miner_executed" / "events.jsonl"
    r = jibril("replay", str(events), "--from", str(ALCH), "--no-reactions", "--format", "json")
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


class Det:
    """What printers receive (engine.Detection has the same two attributes we use)."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.recipe_name = event["metadata"]["name"]


# -- metrics registry & docs -----------------------------------------------------------------

def test_metrics_doc_is_generated_from_the_registry() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == metrics_md(), \
        "run 'jibril docs' to refresh docs/metrics.md"
    names = [m.full_name for m in METRICS]
    assert len(names) == len(set(names))
    for must in ("jibril_detections_total", "jibril_kernel_events_lost_total",
                 "jibril_reactions_total", "jibril_reaction_duration_seconds",
                 "jibril_helper_calls_total", "jibril_prevented_total", "jibril_recipe_mode",
                 "jibril_bundle_info", "jibril_reloads_total", "jibril_userspace_queue_drops_total",
                 "jibril_agent_resident_memory_bytes", "jibril_agent_cpu_seconds_total"):
        assert must in names


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_server_health_metrics_status_and_token(tmp_path: Path) -> None:
    obs = Observer(stall_s=0.5)
    srv = serve("127.0.0.1:0", obs)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        assert _get(base + "/healthz")[0] == 503  # starting
        obs.on_bundle("abc123", 7, ["crypto_miner_executed"])
        obs.set_ready()
        assert _get(base + "/healthz") == (200, b'{"status": "ok"}')
        for d in [x for x in detections(tmp_path) if x["rule"] == "crypto_miner_executed"][:2]:
            obs.on_detection(Det(d))
        code, body = _get(base + "/metrics")
        text = body.decode()
        assert code == 200
        for spec in METRICS:  # every family of the registry is exposed
            assert f"# HELP {spec.full_name} " in text, spec.full_name
        assert 'jibril_detections_total{importance="critical",recipe="crypto_miner_executed"} 2.0' in text
        assert 'jibril_bundle_info{digest="abc123"} 1.0' in text
        st = json.loads(_get(base + "/api/status")[1])
        assert st["bundle"]["digest"] == "abc123" and len(st["detections"]) == 2
        page = _get(base + "/")[1].decode()
        assert "api/status" in page and "http://" not in page and "https://" not in page
        time.sleep(0.7)  # no tick(): the loop looks stalled
        code, body = _get(base + "/healthz")
        assert code == 503 and b"stalled" in body
    finally:
        stop(srv)
    srv = serve("127.0.0.1:0", obs, token="s3cret")
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        assert _get(base + "/metrics")[0] == 401
        assert _get(base + "/api/status?token=wrong")[0] == 401
        assert _get(base + "/metrics", {"Authorization": "Bearer s3cret"})[0] == 200
        assert _get(base + "/api/status?token=s3cret")[0] == 200
        assert _get(base + "/healthz")[0] in (200, 503)  # never needs the token
    finally:
        stop(srv)
    with pytest.raises(ValueError, match="token"):
        serve("0.0.0.0:0", obs)  # not loopback and no token: refused before binding


def test_the_token_in_a_browser_url_never_reaches_the_log() -> None:
    obs = Observer()
    buf = io.StringIO()
    from jibril_rules.observe.logs import setup_logging
    setup_logging(logging.DEBUG, "text", stream=buf)
    srv = serve("127.0.0.1:0", obs, token="s3cret-token")
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        assert _get(base + "/api/status?x=1&token=s3cret-token")[0] == 200
        assert _get(base + "/?token=wrong")[0] == 401
    finally:
        stop(srv)
        logging.getLogger("jibril_rules").handlers.clear()
    text = buf.getvalue()
    assert "/api/status?x=1&token=REDACTED" in text, text
    assert "s3cret-token" not in text and "wrong" not in text


def test_a_bad_log_level_names_where_it_came_from(monkeypatch: Any) -> None:
    from jibril_rules.observe.logs import resolve_level
    monkeypatch.setenv("JIBRIL_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match=r"\$JIBRIL_LOG_LEVEL: unknown log level 'loud'"):
        resolve_level(None, "info")
    assert resolve_level("debug", None) == logging.DEBUG  # the flag wins over the env
    with pytest.raises(ValueError, match="--log-level"):
        resolve_level("nope", None)


# -- alerts ----------------------------------------------------------------------------------

def test_json_detections_gain_the_falco_keys_additively(tmp_path: Path) -> None:
    dets = detections(tmp_path)
    assert dets
    for d in dets:
        assert all(k in d for k in FALCO_KEYS)
        assert d["metadata"]["name"] == d["rule"] and d["base"]["metadata"] == d["metadata"]
        assert d["source"] == "jibril" and d["schema_version"] == "1"
        assert d["priority"] == PRIORITY.get(d["metadata"]["importance"], "Informational")
        assert "\n" not in d["output"]
        of = d["output_fields"]
        assert of["proc.exe"] == d["process"]["exe"] and of["proc.pid"] == d["process"]["pid"]
        assert of["fd.name"] == d["file"]["file"]
        assert d["rule"] != "crypto_miner_executed" or "mitre_impact" in d["tags"]
        check_falcosidekick_payload(d)
        assert "reaction" not in d  # reaction records never ride in a detection


def test_flow_fields() -> None:
    ev = {"uuid": "u", "mechanism": "network_peers", "metadata": {"name": "r", "importance": "low"},
          "process": {"pid": 9, "exe": "/bin/curl", "cmd": "curl x"},
          "flow": {"proto": "TCP", "remote": {"address": "10.0.0.1", "port": 443,
                                              "names": ["x.example"]},
                   "local": {"address": "10.0.0.2", "port": 5555}}}
    a = alert(ev)
    of = a["output_fields"]
    assert of["fd.sip"] == "10.0.0.1" and of["fd.sport"] == 443 and of["fd.lport"] == 5555
    assert a["priority"] == "Notice" and "x.example" in a["output"]
    check_falcosidekick_payload(a)


def test_flow_fields_name_server_and_client_as_falco_does() -> None:
    """fd.sip/fd.sport are the server side: the remote one for an outbound connection, the
    local one for an inbound connection (initiated by the remote side)."""
    def fields(initiated_by: str) -> dict[str, Any]:
        ev = {"uuid": "u", "mechanism": "network_peers", "metadata": {"name": "r"},
              "flow": {"proto": "tcp", "phase": {"initiated_by": initiated_by},
                       "remote": {"address": "203.0.113.9", "port": 40000, "names": ["c.example"]},
                       "local": {"address": "10.0.0.2", "port": 22}}}
        return dict(alert(ev)["output_fields"])
    inbound = fields("remote")
    assert (inbound["fd.sip"], inbound["fd.sport"]) == ("10.0.0.2", 22)
    assert (inbound["fd.cip"], inbound["fd.cport"]) == ("203.0.113.9", 40000)
    assert inbound["fd.cip.name"] == inbound["fd.rip.name"] == "c.example"
    assert "fd.sip.name" not in inbound and inbound["fd.rport"] == 40000
    outbound = fields("local")
    assert (outbound["fd.sip"], outbound["fd.sport"], outbound["fd.sip.name"]) == (
        "203.0.113.9", 40000, "c.example")
    assert (outbound["fd.cip"], outbound["fd.cport"]) == ("10.0.0.2", 22)


# -- webhook ---------------------------------------------------------------------------------

class _Sink(BaseHTTPRequestHandler):
    bodies: list[Any] = []
    headers_seen: list[dict[str, str]] = []

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(n)))
        type(self).headers_seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


def test_webhook_posts_falco_shape_and_counts_drops_when_down(tmp_path: Path) -> None:
    dets = [Det(d) for d in detections(tmp_path)]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    obs = Observer()
    p = HttpPrinter(HttpSettings(url=url, headers={"X-Token": "t"}), obs.metrics)
    try:
        for d in dets:
            p.emit(d)
        p.close()
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(_Sink.bodies) == len(dets) and p.counts.sent == len(dets)
    assert _Sink.headers_seen[0]["X-Token"] == "t"
    for body in _Sink.bodies:
        assert all(k in body for k in FALCO_KEYS)
        check_falcosidekick_payload(body)
    assert obs.metrics.value("output_sent", "http") == len(dets)
    # server down: emit never blocks, every alert ends up dropped and counted
    down = HttpPrinter(HttpSettings(url=url, retries=2, backoff_ms=10, queue_size=4, timeout_ms=300),
                       obs.metrics)
    t0 = time.perf_counter()
    for _ in range(50):
        down.emit(dets[0])
    emit_s = time.perf_counter() - t0
    down.close(timeout_s=10)
    assert down.counts.sent == 0 and down.counts.dropped == 50
    assert obs.metrics.value("userspace_queue_drops", "http") == 50
    print(f"50 emits with the server down took {emit_s * 1e3:.1f} ms")


def test_webhook_close_does_not_sit_out_the_backoff(tmp_path: Path) -> None:
    """Stopping the agent with the endpoint down: what is queued gets one last attempt and is
    counted as dropped, instead of waiting through minutes of retry backoff."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"  # bound, not listening: refused
        p = HttpPrinter(HttpSettings(url=url, retries=5, backoff_ms=60_000, timeout_ms=500))
        det = Det(detections(tmp_path)[0])
        for _ in range(3):
            p.emit(det)
        t0 = time.monotonic()
        p.close(timeout_s=120)
        took = time.monotonic() - t0
    assert p.counts.dropped == 3 and p.counts.sent == 0
    assert not p._thread.is_alive()
    assert took < 60, f"close() waited {took:.1f} s"  # hang guard: the backoff alone is 60 s+


def test_syslog_rfc5424_over_udp(tmp_path: Path) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    det = Det(detections(tmp_path)[0])
    p = SyslogPrinter(SyslogSettings(address=f"udp://127.0.0.1:{rx.getsockname()[1]}",
                                     facility="local3"))
    try:
        p.emit(det)
        msg = rx.recv(65536).decode()
    finally:
        p.close()
        rx.close()
    m = re.match(r"<(\d+)>1 (\S+) (\S+) jibril (\d+) detection \[jibril@32473 ([^\]]*)\] \ufeff(.*)$", msg)
    assert m, msg
    assert int(m.group(1)) == 19 * 8 + 2  # local3, Critical
    assert 'rule="crypto_miner_executed"' in m.group(5) and "crypto_miner_executed" in m.group(6)


def test_syslog_udp_host_name_is_resolved_once(tmp_path: Path) -> None:
    """udp://localhost:PORT: resolved when the printer is made, never per alert (a DNS lookup
    on the event loop); an unresolvable name is a clear error up front."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    p = SyslogPrinter(SyslogSettings(address=f"udp://localhost:{rx.getsockname()[1]}"))
    try:
        assert p._addr[0] in ("127.0.0.1", "::1")
        if p._addr[0] == "127.0.0.1":
            p.emit(Det(detections(tmp_path)[0]))
            assert rx.recv(65536).startswith(b"<")
    finally:
        p.close()
        rx.close()
    with pytest.raises(ValueError, match="resolve"):
        SyslogPrinter(SyslogSettings(address="udp://" + "a" * 64 + ".x:514"))  # IDNA: no query


def test_printer_specs_from_config_and_flags(tmp_path: Path) -> None:
    from jibril_rules.runtime.printers import make_printers
    ps = make_printers(["none", "http:http://127.0.0.1:9/x", "syslog:udp://127.0.0.1:9",
                        {"http": {"url": "http://127.0.0.1:9/", "batch": 5}}])
    assert [type(p).__name__ for p in ps] == ["HttpPrinter", "SyslogPrinter", "HttpPrinter"]
    for p in ps:
        p.close(**({"timeout_s": 0.1} if isinstance(p, HttpPrinter) else {}))
    with pytest.raises(ValueError):
        make_printers([{"ftp": {}}])


# -- logging ---------------------------------------------------------------------------------

def _run_info(tmp_path: Path, level: int, fmt: str = "text") -> str:
    from jibril_rules.observe.logs import setup_logging
    from jibril_rules.reactions import ReactionConfig, ReactionRuntime, ReactionSpec, RecipeRef
    buf = io.StringIO()
    setup_logging(level, fmt, stream=buf)
    rt = ReactionRuntime(ReactionConfig(mode="monitor", state_dir=str(tmp_path / "s"),
                                        temp_root=str(tmp_path)))
    try:
        rt.run_now(RecipeRef("k", "loud_recipe"),
                   [ReactionSpec("js", "function process(data) { Info('x'); }"),
                    ReactionSpec("js", "function process(data) { Warn('w'); }", index=1)],
                   {"uuid": "ev-123", "metadata": {}})
    finally:
        rt.close()
        logging.getLogger("jibril_rules").handlers.clear()
    return buf.getvalue()


def test_reaction_info_is_an_info_record_with_recipe_uuid_and_index(tmp_path: Path) -> None:
    text = _run_info(tmp_path, logging.INFO)
    line = next(x for x in text.splitlines() if "[loud_recipe] x" in x)
    assert " INFO " in line and "recipe=loud_recipe" in line and "event_uuid=ev-123" in line
    assert "reaction_index=0" in line
    assert "reaction_index=1" in next(x for x in text.splitlines() if "WARNING" in x)
    warn_only = _run_info(tmp_path, logging.WARNING)
    assert "[loud_recipe] x" not in warn_only and "[loud_recipe] w" in warn_only
    rec = next(json.loads(x) for x in _run_info(tmp_path, logging.INFO, "json").splitlines()
               if '"x"' in x or "] x" in x)
    assert rec["level"] == "info" and rec["recipe"] == "loud_recipe"
    assert rec["event_uuid"] == "ev-123" and rec["reaction_index"] == 0 and "time" in rec


def test_journal_stream_drops_the_timestamp_and_rate_limit_counts(tmp_path: Path,
                                                                   monkeypatch: Any) -> None:
    import os

    from jibril_rules.observe.logs import setup_logging
    f = open(tmp_path / "log", "w+")  # noqa: SIM115
    st = os.fstat(f.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    dropped: list[str] = []
    setup_logging(logging.INFO, "text", stream=f, rate_per_s=1, burst=3, on_drop=dropped.append)
    log = logging.getLogger("jibril_rules.reactions")
    try:
        for i in range(10):
            log.info("[r] m%d", i, extra={"recipe": "r", "event_uuid": "u", "reaction_index": 0})
        logging.getLogger("jibril_rules.agent").info("jibril: not rate limited")
    finally:
        logging.getLogger("jibril_rules").handlers.clear()
    f.seek(0)
    lines = f.read().splitlines()
    f.close()
    assert lines[0].startswith("INFO [r] m0")  # no timestamp: the journal adds its own
    assert len([x for x in lines if "[r] m" in x]) == 3 and len(dropped) == 7
    assert lines[-1] == "INFO jibril: not rate limited"


def test_a_text_log_record_stays_on_one_line() -> None:
    """A reaction logging a command line with a newline cannot forge a second log line."""
    from jibril_rules.observe.logs import setup_logging
    buf = io.StringIO()
    setup_logging(logging.INFO, "text", stream=buf)
    try:
        logging.getLogger("jibril_rules.reactions").warning(
            "[r] cmd=%s", "sh -c x\n2026-01-01T00:00:00.000Z ERROR forged\x1b[2J",
            extra={"recipe": "r", "event_uuid": "u\nv", "reaction_index": 0})
    finally:
        logging.getLogger("jibril_rules").handlers.clear()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "x\\n2026" in lines[0] and "\\x1b[2J" in lines[0] and "event_uuid=u\\nv" in lines[0]


# -- config ----------------------------------------------------------------------------------

def test_config_keys_are_validated_with_locations(tmp_path: Path) -> None:
    from jibril_rules.config import load_config
    from jibril_rules.core.errors import JibrilError
    p = tmp_path / "j.yaml"
    p.write_text("metrics:\n  listen: 0.0.0.0:9376\nlog:\n  levl: info\n  format: xml\n"
                 "printers:\n  - http: {uri: x}\n")
    with pytest.raises(JibrilError) as e:
        load_config(str(p))
    got = {(d.code, d.span.line) for d in e.value.diagnostics}
    assert ("JR021", 2) in got  # not loopback without a token
    assert ("JR020", 4) in got  # unknown log option
    assert ("JR022", 5) in got  # bad format (a value not among the choices)
    assert any(c == "JR020" and line == 7 for c, line in got)
    p.write_text("from: [/x]\nmetrics: {listen: '', token: t}\nlog: {level: warning, format: json}\n"
                 "printers: [stdout, {syslog: {address: 'udp://127.0.0.1:514'}}]\n")
    cfg = load_config(str(p))
    assert cfg.observe["from"] == ["/x"] and cfg.observe["log"]["format"] == "json"


def test_config_search_order(tmp_path: Path, monkeypatch: Any) -> None:
    from jibril_rules.config import find_config
    work, root = tmp_path / "work", tmp_path / "root"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("JIBRIL_ROOT", str(root))
    assert find_config() is None
    (root / "etc/jibril").mkdir(parents=True)
    (root / "etc/jibril/jibril.yaml").write_text("printers: [stdout]\n")
    assert find_config() == str(root / "etc/jibril/jibril.yaml")
    (work / "jibril.yaml").write_text("printers: [stdout]\n")
    assert find_config() == "jibril.yaml"  # ./jibril.yaml first


def test_replay_reaction_records_go_to_their_own_stream(tmp_path: Path) -> None:
    import os
    events = ALCH / "crypto_miner_executed" / "events.jsonl"
    rx = tmp_path / "reactions.jsonl"
    r = jibril("replay", str(events), "--from", str(ALCH), "--dry-run", "--format", "json",
               "--reactions-output", str(rx),
               env=dict(os.environ, JIBRIL_RULES_STATE=str(tmp_path / "state")))
    assert r.returncode == 0, r.stderr
    dets = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert dets and all("rule" in d and "reaction" not in d for d in dets)
    recs = [json.loads(x) for x in rx.read_text().splitlines()]
    assert recs and all(x["mode"] == "monitor" and "calls" in x for x in recs)


def test_default_metrics_address_taken_is_a_warning_explicit_is_an_error() -> None:
    from jibril_rules.observe import runner
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    addr = f"127.0.0.1:{busy.getsockname()[1]}"
    try:
        obs = runner.configure({}, None, "warning", None)
        obs.listen = addr  # as if the default were taken
        runner.serve(obs, None)
        assert obs.server is None
        obs = runner.configure({}, addr, "warning", None)
        with pytest.raises(OSError):
            runner.serve(obs, None)
    finally:
        busy.close()
        logging.getLogger("jibril_rules").handlers.clear()


def test_port_zero_logs_the_port_actually_bound() -> None:
    """--metrics-listen 127.0.0.1:0 (any free port) says which port it got."""
    from jibril_rules.observe import runner
    buf = io.StringIO()
    obs = runner.configure({}, "127.0.0.1:0", "info", None)
    logging.getLogger("jibril_rules").handlers[0].setStream(buf)  # type: ignore[attr-defined]
    try:
        runner.serve(obs, None)
        port = obs.server.server_address[1]
        assert port and f"http://127.0.0.1:{port}/" in buf.getvalue(), buf.getvalue()
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 503  # not ready yet
    finally:
        obs.close()
        logging.getLogger("jibril_rules").handlers.clear()


def test_syslog_local_socket_and_missing_socket_counts(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(5)
    det = Det(detections(tmp_path)[0])
    p = SyslogPrinter(SyslogSettings(address=path))
    try:
        p.emit(det)
        assert rx.recv(65536).decode().startswith("<")
    finally:
        rx.close()
    p.emit(det)  # the socket is gone: dropped and counted, never raised
    p.close()
    assert p.counts.sent == 1 and p.counts.dropped == 1
