"""Printers: where detections go (stdout human or JSON lines, a JSONL file)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Protocol

from ..observe.alerts import alert
from .engine import Detection

HUMAN = ("stdout", "human")  # printer specs for stdout, human lines
JSON = ("stdout:json", "json")  # stdout, JSON lines
NONE = "none"
STDOUT_PRINTERS = (*HUMAN, *JSON, NONE)


class Printer(Protocol):
    def emit(self, det: Detection) -> None: ...
    def close(self) -> None: ...


class HumanPrinter:
    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout

    def emit(self, det: Detection) -> None:
        ev = det.event
        proc = ev.get("process") or {}
        what = ""
        if isinstance(ev.get("file"), dict):
            f = ev["file"]
            what = f"{f.get('file', '')} [{','.join(f.get('actions') or [])}]"
        elif isinstance(ev.get("flow"), dict):
            r = ev["flow"].get("remote") or {}
            names = ",".join(r.get("names") or [])
            what = f"{ev['flow'].get('proto', '')} {r.get('address', '')}:{r.get('port', '')} {names}".strip()
        imp = ev["metadata"].get("importance") or "-"
        self.out.write(f"DETECT {det.recipe_name} ({imp}) event={ev.get('uuid')} "
                       f"pid={proc.get('pid', '-')} exe={proc.get('exe', '-')} {what}\n")
        self.out.flush()

    def close(self) -> None:
        pass


class JsonPrinter:
    def __init__(self, out: IO[str] | None = None, path: str | None = None) -> None:
        self._own = path is not None
        self.out = open(path, "a", encoding="utf-8") if path else (out or sys.stdout)

    def emit(self, det: Detection) -> None:
        # the Jibril detection plus Falco's alert keys (time, rule, priority, output, ...)
        self.out.write(json.dumps(alert(det.event), sort_keys=True, default=str) + "\n")
        self.out.flush()

    def close(self) -> None:
        if self._own:
            self.out.close()


# The printers make_printers knows (`jibril list printers`, jibril.yaml `printers:`).
PRINTERS: dict[str, str] = {
    "stdout": "detections as human lines on stdout (also: human)",
    "stdout:json": "detections as JSON lines on stdout, Jibril's event shape (also: json)",
    "jsonl:PATH": "JSON lines appended to the file PATH",
    "http:URL": "Falco-shaped alerts POSTed to a webhook (also {http: {...}}; docs/observability.md)",
    "syslog[:ADDRESS]": "Falco-shaped alerts to syslog (also {syslog: {...}}; docs/observability.md)",
    "none": "print nothing (reactions still run)",
}


def make_printers(specs: list[Any], out: IO[str] | None = None,
                  metrics: Any | None = None) -> list[Printer]:
    """Specs: 'stdout' (human), 'stdout:json', 'jsonl:PATH', 'none', and the alert outputs of
    observe/: 'http:URL', 'syslog[:ADDRESS]', {http: {...}}, {syslog: {...}}."""
    from ..observe import make_printer
    printers: list[Printer] = []
    for s in specs:
        ext = make_printer(s, metrics)
        if ext is not None:
            printers.append(ext)
        elif not isinstance(s, str):
            raise ValueError(f"unknown printer {s!r}: use a string or {{http: ...}}/{{syslog: ...}}")
        elif s in HUMAN:
            printers.append(HumanPrinter(out))
        elif s in JSON:
            printers.append(JsonPrinter(out))
        elif s.startswith("jsonl:"):
            printers.append(JsonPrinter(path=s[len("jsonl:"):]))
        elif s == NONE:
            continue
        else:
            raise ValueError(f"unknown printer '{s}': use stdout, stdout:json, jsonl:PATH, http:URL, syslog[:ADDRESS] or none")
    return printers

