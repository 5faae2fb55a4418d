"""Live, as root: `jibril run` with metrics on; a detection with a reaction; the real Prometheus
server scrapes /metrics and we read the counters back through its query API; headless
Chromium renders the status page; the reaction's Info() is in the agent's log at INFO (and not
at --log-level warning)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from falco_payload import check_falcosidekick_payload

pytestmark = [pytest.mark.root, pytest.mark.kernel, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
RECIPE = "obs_live_touch"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def wait(pred: Any, timeout: float, step: float = 0.2) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Sink(BaseHTTPRequestHandler):
    """What falcosidekick's Falco input would receive."""

    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


class LiveAgent:
    def __init__(self, tmp: Path, level: str, webhook: str) -> None:
        self.dir = tmp / level
        self.watched = self.dir / "w"
        self.watched.mkdir(parents=True)
        (self.dir / "r.yaml").write_text(f"""
- kind: obs_test
  name: {RECIPE}
  mechanism: file_access
  importance: high
  tactic: discovery
  technique: file_and_directory_discovery
  file_actions: [create]
  bases: [{{dir: '{self.watched}', base: trigger.txt}}]
  reactions:
    - format: js
      code: |
        function process(data) {{ Info("x"); }}
""")
        (self.dir / "jibril.yaml").write_text(
            f"reactions: {{state_dir: '{self.dir}/state', temp_root: '{self.dir}'}}\n"
            "log: {format: json}\n")
        self.port = free_port()
        self.log_path = self.dir / "agent.log"
        self.out_path = self.dir / "agent.out"
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jibril_rules.cli", "run", "--from", str(self.dir / "r.yaml"),
             "--dry-run", "--for", "240", "--control", "", "--aggregate", "0",
             "--metrics-listen", f"127.0.0.1:{self.port}", "--log-level", level,
             "--output", f"http:{webhook}"],
            stdout=open(self.out_path, "w"), stderr=open(self.log_path, "w"),  # noqa: SIM115
            cwd=self.dir, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.health_while_starting: int | None = None
        self.health_at_ready = 0

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"agent exited {self.proc.returncode}: {self.log_path.read_text()}")
            if self.health_while_starting is None:
                code, _ = get(self.base + "/healthz", 1)
                if code:
                    self.health_while_starting = code
            return "ready" in self.out_path.read_text()
        assert wait(ready, 240, 0.1), self.log_path.read_text()
        self.health_at_ready = get(self.base + "/healthz", 5)[0]  # right after the ready line

    def trigger(self) -> str:
        subprocess.run(["/bin/sh", "-c", f"touch '{self.watched}/trigger.txt'"], check=True)
        line = wait(lambda: next((x for x in self.out_path.read_text().splitlines()
                                  if x.startswith(f"DETECT {RECIPE}")), None), 15)
        assert line, self.out_path.read_text()
        return line.split("event=")[1].split()[0]

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for x in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(x))
            except ValueError:
                pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("obs-live")
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    # the info agent posts to the sink; the warning agent to a port nobody listens on
    info = LiveAgent(tmp, "info", f"http://127.0.0.1:{sink.server_address[1]}/")
    warn = LiveAgent(tmp, "warning", f"http://127.0.0.1:{free_port()}/")
    try:
        info.wait_ready()
        warn.wait_ready()
        uuids = {"info": info.trigger(), "warning": warn.trigger()}
        # the reaction runs on a worker: wait until its record reached the status page
        assert wait(lambda: json.loads(get(info.base + "/api/status")[1] or b"{}").get(
            "detections", [{}])[0].get("reactions"), 10)
        yield {"info": info, "warning": warn, "uuids": uuids, "tmp": tmp}
    finally:
        info.stop()
        warn.stop()
        sink.shutdown()
        sink.server_close()


def test_healthz_and_metrics_scraped_by_real_prometheus(agents: dict[str, Any]) -> None:
    a = agents["info"]
    assert a.health_while_starting in (503, None)  # 503 while starting (or not yet bound)
    assert get(a.base + "/healthz")[0] == 200
    assert a.health_at_ready == 200  # ready is said only once /healthz says it too
    prom = shutil.which("prometheus")
    if prom is None:
        pytest.skip("prometheus not installed (apt-get install prometheus; scripts/setup.sh)")
    d = agents["tmp"] / "prom"
    d.mkdir()
    (d / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: jibril
    static_configs: [{{targets: ['127.0.0.1:{a.port}']}}]
""")
    pport = free_port()
    p = subprocess.Popen([prom, f"--config.file={d / 'prometheus.yml'}",
                          f"--storage.tsdb.path={d / 'data'}",
                          f"--web.listen-address=127.0.0.1:{pport}"],
                         stdout=subprocess.DEVNULL, stderr=open(d / "prom.log", "w"))  # noqa: SIM115
    try:
        def query(q: str) -> list[dict[str, Any]]:
            code, body = get(f"http://127.0.0.1:{pport}/api/v1/query?"
                             + urllib.parse.urlencode({"query": q}))
            if code != 200:
                return []
            res = json.loads(body)
            return list(res["data"]["result"]) if res.get("status") == "success" else []

        det = wait(lambda: query(f'jibril_detections_total{{recipe="{RECIPE}"}}'), 60, 0.5)
        assert det, (d / "prom.log").read_text()[-2000:]
        assert float(det[0]["value"][1]) >= 1 and det[0]["metric"]["importance"] == "high"
        rx = wait(lambda: query(f'jibril_reactions_total{{recipe="{RECIPE}",status="ok"}}'), 30, 0.5)
        assert rx and float(rx[0]["value"][1]) >= 1
        calls = query('jibril_helper_calls_total{helper="Info",result="ok"}')
        assert calls and float(calls[0]["value"][1]) >= 1
        up = query('up{job="jibril"}')
        assert up and up[0]["value"][1] == "1"
        assert query("jibril_kernel_events_seen_total") and query("jibril_agent_resident_memory_bytes")
        assert query(f'jibril_recipe_mode{{recipe="{RECIPE}",mode="monitor"}} == 1')
    finally:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def test_status_page_in_headless_chromium(agents: dict[str, Any], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium; scripts/setup.sh)")
    a, uuid = agents["info"], agents["uuids"]["info"]
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=4000", "--window-size=1280,900"]
    shot = tmp_path / "status.png"
    r = subprocess.run([chromium, *flags, f"--screenshot={shot}", a.base + "/"],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 1000, r.stderr[-2000:]
    r = subprocess.run([chromium, *flags, "--dump-dom", a.base + "/"], capture_output=True,
                       text=True, timeout=120)
    dom = r.stdout
    assert f'data-uuid="{uuid}"' in dom, dom[-3000:]
    row = dom.split(f'data-uuid="{uuid}"', 1)[1].split("</tr>", 1)[0]
    assert RECIPE in row and 'data-status="ok"' in row and "#0 ok [monitor]" in row, row
    assert 'id="state" class="ok">ok<' in dom
    print(f"screenshot: {shot}")


def test_reaction_info_in_agent_log_only_at_info(agents: dict[str, Any]) -> None:
    uuid = agents["uuids"]["info"]
    recs = wait(lambda: [r for r in agents["info"].log_records()
                         if r.get("msg") == f"[{RECIPE}] x"], 10)
    assert recs, agents["info"].log_path.read_text()
    assert recs[0]["level"] == "info" and recs[0]["recipe"] == RECIPE
    assert recs[0]["event_uuid"] == uuid and recs[0]["reaction_index"] == 0
    w = agents["warning"]
    ran = wait(lambda: json.loads(get(w.base + "/api/status")[1] or b"{}").get(
        "detections", [{}])[0].get("reactions"), 10)
    assert ran and ran[0]["status"] == "ok"  # the reaction ran there too
    assert not [r for r in w.log_records() if r.get("msg") == f"[{RECIPE}] x"]
    assert "DETECT " + RECIPE in w.out_path.read_text()


def test_live_webhook_delivers_falco_shape_and_counts_drops_when_down(agents: dict[str, Any]) -> None:
    uuid = agents["uuids"]["info"]
    body = wait(lambda: next((b for b in Sink.bodies if b.get("uuid") == uuid), None), 15)
    assert body, Sink.bodies
    assert body["rule"] == RECIPE and body["priority"] == "Error" and body["source"] == "jibril"
    assert body["output_fields"]["fd.name"].endswith("/w/trigger.txt")
    assert "mitre_discovery" in body["tags"]
    check_falcosidekick_payload(body)
    w = agents["warning"]  # its webhook is down: detection went on, the alert was dropped

    def dropped() -> float:
        text = get(w.base + "/metrics")[1].decode()
        line = next((x for x in text.splitlines()
                     if x.startswith('jibril_userspace_queue_drops_total{queue="http"}')), "")
        return float(line.split()[-1]) if line else 0.0
    assert wait(lambda: dropped() >= 1, 20)
    assert "DETECT " + RECIPE in w.out_path.read_text()


def test_reload_success_and_failure_are_counted(agents: dict[str, Any]) -> None:
    import signal
    a = agents["info"]
    recipe = a.dir / "r.yaml"

    def metric(name: str) -> dict[str, float]:
        out = {}
        for x in get(a.base + "/metrics")[1].decode().splitlines():
            if x.startswith(name):
                key, val = x.rsplit(" ", 1)
                out[key] = float(val)
        return out
    before = json.loads(get(a.base + "/api/status")[1])["bundle"]
    recipe.write_text(recipe.read_text() + f"""
- kind: obs_test
  name: obs_live_added
  mechanism: file_access
  file_actions: [create]
  bases: [{{dir: '{a.watched}', base: other.txt}}]
""")
    a.proc.send_signal(signal.SIGHUP)
    assert wait(lambda: metric("jibril_reloads_total").get('jibril_reloads_total{result="success"}'), 60)
    after = json.loads(get(a.base + "/api/status")[1])["bundle"]
    assert after["digest"] != before["digest"] and after["recipes"] == 2
    assert after["generation"] > before["generation"]
    assert metric("jibril_bundle_info") == {f'jibril_bundle_info{{digest="{after["digest"]}"}}': 1.0}
    recipe.write_text("- kind: [broken\n")
    a.proc.send_signal(signal.SIGHUP)
    assert wait(lambda: metric("jibril_reloads_total").get('jibril_reloads_total{result="failure"}'), 60)
    assert json.loads(get(a.base + "/api/status")[1])["bundle"]["digest"] == after["digest"]
    assert get(a.base + "/healthz")[0] == 200  # the old bundle keeps running
