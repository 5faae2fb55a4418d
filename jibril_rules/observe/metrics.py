"""The one registry of the agent's Prometheus metrics: code and docs/metrics.md come from METRICS.

Pushed metrics (counters the event path increments) are prometheus_client objects. Pulled ones
(kernel counters read from the BPF map, process RSS/CPU, the mode of each recipe) are yielded at
scrape time from a snapshot the agent loop refreshes, so a scrape never touches the sensor.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..core.vocab import MODES

PREFIX = "jibril_"
REACTION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0)


@dataclass(frozen=True)
class MetricSpec:
    name: str  # without the jibril_ prefix and without _total
    kind: str  # counter | gauge | histogram
    labels: tuple[str, ...]
    doc: str
    pulled: bool = False  # yielded from the agent snapshot at scrape time

    @property
    def full_name(self) -> str:
        return PREFIX + self.name + ("_total" if self.kind == "counter" else "")


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("detections", "counter", ("recipe", "importance"),
               "Detections printed, per recipe and importance."),
    MetricSpec("events", "counter", ("mechanism",),
               "Events assembled in userspace and given to the engine, per mechanism.",
               pulled=True),
    MetricSpec("kernel_events_seen", "counter", ("sensor",),
               "Events the in-kernel filter saw, per sensor.", pulled=True),
    MetricSpec("kernel_events_passed", "counter", ("sensor",),
               "Events the in-kernel filter passed to userspace, per sensor.", pulled=True),
    MetricSpec("kernel_events_lost", "counter", ("sensor",),
               "Events lost because the ring buffer was full, per sensor.", pulled=True),
    MetricSpec("userspace_queue_drops", "counter", ("queue",),
               "Items dropped because a bounded userspace queue was full (reactions, http, "
               "syslog) or a send failed after its retries."),
    MetricSpec("reactions", "counter", ("recipe", "status"),
               "Reaction executions per recipe and status (ok, error, timeout, memory, "
               "dry_run, rate_limited, deduped, refused)."),
    MetricSpec("reaction_duration_seconds", "histogram", ("recipe",),
               "Wall time of one reaction execution."),
    MetricSpec("helper_calls", "counter", ("helper", "result"),
               "Helper calls made by reactions, by helper and result (ok, no_effect, error, "
               "dry_run)."),
    MetricSpec("prevented", "counter", ("recipe",),
               "Operations the kernel-side prevention stopped (kill, deny), per recipe."),
    MetricSpec("recipe_mode", "gauge", ("recipe", "mode"),
               "1 for the current reaction mode (monitor or enforce) of each recipe.", pulled=True),
    MetricSpec("bundle_info", "gauge", ("digest",), "1, labelled with the active bundle digest."),
    MetricSpec("bundle_generation", "gauge", (), "Generation of the kernel tables loaded."),
    MetricSpec("bundle_loaded_timestamp_seconds", "gauge", (),
               "Unix time the active bundle was loaded."),
    MetricSpec("bundle_recipes", "gauge", (), "Recipes in the active bundle."),
    MetricSpec("reloads", "counter", ("result",), "Bundle reloads, by result (success, failure)."),
    MetricSpec("log_records_dropped", "counter", ("recipe",),
               "Reaction log records dropped by the per-recipe rate limit."),
    MetricSpec("output_sent", "counter", ("output",), "Detections delivered by an output."),
    MetricSpec("ready", "gauge", (), "1 once every sensor is attached and the bundle loaded."),
    MetricSpec("agent_resident_memory_bytes", "gauge", (), "Resident set size of the agent.",
               pulled=True),
    MetricSpec("agent_cpu_seconds", "counter", ("mode",),
               "CPU time the agent used, user and system.", pulled=True),
)
SPECS: dict[str, MetricSpec] = {m.name: m for m in METRICS}


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Snapshot:
    """What the loop refreshes for the pulled metrics (kernel stats, modes)."""

    def __init__(self) -> None:
        self.kernel: dict[str, dict[str, int]] = {}
        self.events: dict[str, int] = {}
        self.modes: dict[str, str] = {}


class _Pulled(Collector):
    def __init__(self, snap: Snapshot, lock: threading.Lock) -> None:
        self.snap, self.lock = snap, lock

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            kernel = {k: dict(v) for k, v in self.snap.kernel.items()}
            modes = dict(self.snap.modes)
            events = dict(self.snap.events)
        spec = SPECS["events"]
        ev = CounterMetricFamily(PREFIX + spec.name, spec.doc, labels=spec.labels)
        for mech, n in sorted(events.items()):
            ev.add_metric([mech], n)
        yield ev
        for key, stat in (("kernel_events_seen", "seen"), ("kernel_events_passed", "sent"),
                          ("kernel_events_lost", "lost")):
            spec = SPECS[key]
            fam = CounterMetricFamily(PREFIX + spec.name, spec.doc, labels=spec.labels)
            for sensor, vals in sorted(kernel.items()):
                fam.add_metric([sensor], vals.get(stat, 0))
            yield fam
        spec = SPECS["recipe_mode"]
        g = GaugeMetricFamily(spec.full_name, spec.doc, labels=spec.labels)
        for recipe, mode in sorted(modes.items()):
            for m in MODES:
                g.add_metric([recipe, m], 1.0 if m == mode else 0.0)
        yield g
        spec = SPECS["agent_resident_memory_bytes"]
        yield GaugeMetricFamily(spec.full_name, spec.doc, value=_rss_bytes())
        spec = SPECS["agent_cpu_seconds"]
        cpu = CounterMetricFamily(PREFIX + spec.name, spec.doc, labels=spec.labels)
        t = os.times()
        cpu.add_metric(["user"], t.user)
        cpu.add_metric(["system"], t.system)
        yield cpu


class Metrics:
    """A private registry (one per agent, so tests can run several) built from METRICS."""

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: half the samples, nothing lost
        self.registry = CollectorRegistry(auto_describe=True)
        self.lock = threading.Lock()
        self.snapshot = Snapshot()
        self.m: dict[str, Any] = {}
        for spec in METRICS:
            if spec.pulled:
                continue
            cls: Callable[..., Any] = {"counter": Counter, "gauge": Gauge,
                                       "histogram": Histogram}[spec.kind]
            kw: dict[str, Any] = {"buckets": REACTION_BUCKETS} if spec.kind == "histogram" else {}
            self.m[spec.name] = cls(PREFIX + spec.name, spec.doc, spec.labels,
                                    registry=self.registry, **kw)
        self.registry.register(_Pulled(self.snapshot, self.lock))
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def child(self, name: str, *labels: str) -> Any:
        """The labelled child, cached: labels() costs a lock and a dict build per call."""
        key = (name, labels)
        c = self._children.get(key)
        if c is None:
            metric = self.m[name]
            c = self._children[key] = metric.labels(*labels) if labels else metric
        return c

    def inc(self, name: str, *labels: str, by: float = 1.0) -> None:
        self.child(name, *labels).inc(by)

    def value(self, name: str, *labels: str) -> float:
        """Current value of a pushed counter or gauge (for the status page and tests)."""
        full = SPECS[name].full_name
        want = dict(zip(SPECS[name].labels, labels, strict=False))
        total = 0.0
        for fam in self.registry.collect():
            for s in fam.samples:
                if s.name == full and all(s.labels.get(k) == v for k, v in want.items()):
                    total += s.value
        return total


def metrics_md() -> str:
    lines = ["# Metrics", "",
             "Generated by `jibril docs` from `jibril_rules/observe/metrics.py`. `jibril run` "
             "serves them on `metrics.listen` (default `127.0.0.1:9376`) at `/metrics`; see "
             "docs/observability.md.", "",
             "| metric | type | labels | meaning |", "|---|---|---|---|"]
    for s in METRICS:
        lines.append(f"| `{s.full_name}` | {s.kind} | {', '.join(s.labels) or '-'} | {s.doc} |")
    return "\n".join(lines) + "\n"
