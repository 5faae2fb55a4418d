"""Observability (issue 11): metrics, /healthz and the status page, leveled logs, Falco-shaped
alerts, webhook/syslog outputs and systemd integration. The agent talks to it through an
Observer (hub.py); the rest of the code base only calls the hooks below.
"""

from __future__ import annotations

from typing import Any


def make_printer(spec: Any, metrics: Any | None = None) -> Any | None:
    """http:URL, syslog, syslog:ADDRESS, or {http: {...}} / {syslog: {...}}; None: not ours."""
    from .outputs import HttpPrinter, HttpSettings, SyslogPrinter, SyslogSettings
    if isinstance(spec, str):
        if spec.startswith(("http:", "https:")) and "//" in spec:
            url = spec[len("http:"):] if spec.startswith("http:http") else spec
            return HttpPrinter(HttpSettings(url=url), metrics)
        if spec == "syslog":
            return SyslogPrinter(SyslogSettings(), metrics)
        if spec.startswith("syslog:"):
            return SyslogPrinter(SyslogSettings(address=spec[len("syslog:"):]), metrics)
        return None
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, body), = spec.items()
        if kind == "http":
            return HttpPrinter(HttpSettings(**body), metrics)
        if kind == "syslog":
            return SyslogPrinter(SyslogSettings(**(body or {})), metrics)
    return None


__all__ = ["make_printer"]
