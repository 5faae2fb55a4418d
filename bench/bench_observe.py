"""Benchmark: the agent's per-detection cost with observability on vs off.

Feeds the same raw events through Agent.on_event (engine -> printers -> observer), every
event a detection, in interleaved rounds:
  off:   a JSON printer to /dev/null, no Observer
  metrics: the same + the Observer (Prometheus counters, status ring)
  on:    metrics + the webhook printer posting to an HTTP sink on 127.0.0.1 (a child process,
         so its work does not share our GIL), one alert per POST (what falcosidekick takes)
  batch: the same with batch: 20 (JSON arrays, for receivers that take them)
No root needed: the sensor is built but never started. Prints events/s side by side (min and
median over rounds) and the ratio.

    python bench/bench_observe.py [--events 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jibril_rules.compiler.driver import load_any  # noqa: E402
from jibril_rules.observe.hub import Observer  # noqa: E402
from jibril_rules.observe.outputs import HttpPrinter, HttpSettings  # noqa: E402
from jibril_rules.runtime.printers import JsonPrinter  # noqa: E402
from jibril_rules.sensor.agent import Agent, AgentOptions  # noqa: E402

RECIPE = """
- kind: bench
  name: bench_touch
  mechanism: file_access
  importance: high
  file_actions: [create]
  bases: [{dir: /bench/w, base: trigger.txt}]
"""


def events(n: int) -> list[dict[str, Any]]:
    return [{"mechanism": "file_access", "uuid": f"e{i}", "timestamp": "2026-01-01T00:00:00Z",
             "process": {"pid": 10000 + i, "ppid": 1, "exe": "/usr/bin/touch",
                         "cmd": "touch /bench/w/trigger.txt", "comm": "touch", "uid": 0},
             "file": {"file": "/bench/w/trigger.txt", "actions": ["create"]}} for i in range(n)]


SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def run(bundle: Any, evs: list[dict[str, Any]], mode: str, url: str) -> tuple[float, Any]:
    devnull = open(os.devnull, "w")  # noqa: SIM115
    printers: list[Any] = [JsonPrinter(devnull)]
    obs = None
    http = None
    if mode != "off":
        obs = Observer()
    if mode in ("on", "batch"):
        http = HttpPrinter(HttpSettings(url=url, queue_size=len(evs) + 1,
                                        batch=20 if mode == "batch" else 1), obs.metrics)
        printers.append(http)
    agent = Agent(bundle, printers, None, opts=AgentOptions(aggregate_s=0), out=devnull,
                  err=devnull, observer=obs)
    t0 = time.perf_counter()
    for ev in evs:
        agent.on_event(dict(ev))
    dt = time.perf_counter() - t0
    assert agent.matches == len(evs), agent.matches
    if http is not None:
        http.close(timeout_s=60)
    devnull.close()
    return len(evs) / dt, http


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "r.yaml"
        p.write_text(RECIPE)
        bundle = load_any([str(p)])
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        url = f"http://127.0.0.1:{int(sink.stdout.readline())}/"
        evs = events(a.events)
        run(bundle, evs[:200], "on", url)  # warm-up
        rates: dict[str, list[float]] = {"off": [], "metrics": [], "on": [], "batch": []}
        delivered = dropped = 0
        for _ in range(a.rounds):  # interleaved: noise hits every side alike
            for mode in rates:
                rate, http = run(bundle, evs, mode, url)
                rates[mode].append(rate)
                if http is not None:
                    delivered += http.counts.sent
                    dropped += http.counts.dropped
    finally:
        sink.terminate()
        sink.wait(10)
    print(f"{a.events} detections per round, {a.rounds} rounds (events/s through the pipeline)")
    print(f"{'':30} {'min':>10} {'median':>10} {'vs off':>8} {'us/detection':>13}")
    med_off = statistics.median(rates["off"])
    for mode, label in (("off", "off (json printer)"), ("metrics", "+ metrics/status"),
                        ("on", "+ metrics/status + webhook"),
                        ("batch", "+ webhook, batch: 20")):
        med = statistics.median(rates[mode])
        print(f"{label:30} {min(rates[mode]):10.0f} {med:10.0f} {med / med_off:8.2f} "
              f"{(1 / med - 1 / med_off) * 1e6:+13.1f}")
    print(f"webhook delivered {delivered}, dropped {dropped}")


if __name__ == "__main__":
    main()
