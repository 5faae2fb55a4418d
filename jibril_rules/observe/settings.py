"""Config keys owned by observability (issue 11) as typed settings, and the listen address rules.

    from: [/etc/jibril/recipes]       # what `jibril run` loads when --from is not given
    metrics: {listen: "127.0.0.1:9376", token: null, stall_s: 10}
    log: {level: info, format: text, rate_per_s: 20, burst: 50}
    printers: [..., "http:URL", "syslog", "syslog:udp://HOST:PORT",
               {http: {url, headers, timeout_ms, batch, queue_size, retries}},
               {syslog: {address, facility}}]

config.py's schema validates these keys (located JR020/21); here they become the typed
settings observe/runner.py uses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from typing import Any

from .logs import FORMATS, LEVELS, parse_level

DEFAULT_LISTEN = "127.0.0.1:9376"
Problem = tuple[tuple[str | int, ...], str, str]


@dataclass(frozen=True)
class MetricsSettings:
    listen: str = DEFAULT_LISTEN  # "" turns the server off
    token: str | None = None  # required when listen is not a loopback address
    stall_s: float = 10.0  # /healthz says 503 when the event loop has not turned for this long


@dataclass(frozen=True)
class LogSettings:
    level: str | None = None
    format: str = "text"
    rate_per_s: float = 20.0  # reaction log records per recipe per second (0: unlimited)
    burst: int = 50


def split_listen(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"listen address must be HOST:PORT ({addr!r})")
    if int(port) > 65535:
        raise ValueError(f"listen port must be 0-65535 ({addr!r})")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _section(cls: type, raw: Any, path: tuple[str | int, ...], out: list[Problem]) -> Any:
    """An instance of cls from a mapping, or None (problems appended, located by path)."""
    name = str(path[-1])
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        out.append((path, f"'{name}' must be a mapping", "see docs/observability.md"))
        return None
    known = {f.name: f for f in fields(cls)}
    kw: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in known:
            out.append(((*path, k), f"unknown {name} option '{k}'", f"valid: {', '.join(known)}"))
            continue
        kw[k] = v
    try:
        return cls(**kw)
    except TypeError as e:
        out.append((path, f"{name}: {e}".replace("__init__() ", ""), "see docs/observability.md"))
        return None


def metrics_settings(raw: Any, out: list[Problem]) -> MetricsSettings:
    m: MetricsSettings = _section(MetricsSettings, raw, ("metrics",), out) or MetricsSettings()
    if not isinstance(m.listen, str):
        out.append((("metrics", "listen"), "'listen' must be a string HOST:PORT or \"\"",
                    "e.g. listen: 127.0.0.1:9376"))
        return MetricsSettings()
    if m.listen:
        try:
            host, _ = split_listen(m.listen)
        except ValueError as e:
            out.append((("metrics", "listen"), str(e), "e.g. listen: 127.0.0.1:9376"))
            return m
        if not is_loopback(host) and not m.token:
            out.append((("metrics", "listen"), f"listening on {host} (not loopback) needs a token",
                        "set metrics.token: a long random string"))
    if m.token is not None and not isinstance(m.token, str):
        out.append((("metrics", "token"), "'token' must be a string", "quote it"))
    return m


def log_settings(raw: Any, out: list[Problem]) -> LogSettings:
    s: LogSettings = _section(LogSettings, raw, ("log",), out) or LogSettings()
    try:
        if s.level is not None:
            parse_level(str(s.level))
    except ValueError:
        out.append((("log", "level"), f"unknown log level '{s.level}'", f"use {', '.join(LEVELS)}"))
    if s.format not in FORMATS:
        out.append((("log", "format"), f"unknown log format '{s.format}'", "use text or json"))
    return s


def from_paths(doc: dict[str, Any]) -> tuple[str, ...]:
    src = doc.get("from")
    if isinstance(src, str):
        return (src,)
    return tuple(src or ())
