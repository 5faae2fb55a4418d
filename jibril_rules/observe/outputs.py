"""Alert outputs beside stdout/jsonl: an HTTP webhook and syslog (RFC 5424).

Neither ever blocks the event loop. The webhook hands detections to one sender thread through
a bounded queue (full: dropped, counted) and retries a failed POST with exponential backoff
before dropping it (counted). Syslog sends one datagram per detection on a non-blocking socket.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .alerts import SYSLOG_SEVERITY, alert, hostname, rfc3339

log = logging.getLogger("jibril_rules.outputs")
FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10,
              **{f"local{i}": 16 + i for i in range(8)}}


@dataclass(frozen=True)
class HttpSettings:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_ms: int = 2000
    batch: int = 1  # >1: POST a JSON array of up to `batch` alerts (falcosidekick wants 1)
    queue_size: int = 10000
    retries: int = 3
    backoff_ms: int = 200


@dataclass(frozen=True)
class SyslogSettings:
    address: str = "/dev/log"  # a unix datagram socket path, or udp://HOST:PORT
    facility: str = "daemon"
    app_name: str = "jibril"


class _Counts:
    """Local counters mirrored into the metrics registry when there is one."""

    def __init__(self, name: str, metrics: Any | None) -> None:
        self.name, self.metrics = name, metrics
        self.sent = self.dropped = 0

    def ok(self, n: int = 1) -> None:
        self.sent += n
        if self.metrics is not None:
            self.metrics.inc("output_sent", self.name, by=n)

    def drop(self, n: int = 1) -> None:
        self.dropped += n
        if self.metrics is not None:
            self.metrics.inc("userspace_queue_drops", self.name, by=n)


class HttpPrinter:
    def __init__(self, s: HttpSettings, metrics: Any | None = None) -> None:
        if not s.url.startswith(("http://", "https://")):
            raise ValueError(f"http printer: url must start with http:// or https:// ({s.url!r})")
        self.s = s
        u = urlsplit(s.url)
        self._https = u.scheme == "https"
        self._hostport = u.netloc
        self._path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self._conn: http.client.HTTPConnection | None = None
        self.counts = _Counts("http", metrics)
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=s.queue_size)
        self._headers = {"Content-Type": "application/json", "User-Agent": "jibril-rules",
                         **s.headers}
        self._closing = threading.Event()  # set by close(): no more backoff waits
        self._thread = threading.Thread(target=self._run, name="jibril-http-out", daemon=True)
        self._thread.start()

    def emit(self, det: Any) -> None:
        try:
            self._q.put_nowait(alert(det.event))
        except queue.Full:
            self.counts.drop()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            items = [item]
            while len(items) < self.s.batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._send(items)
                    return
                items.append(nxt)
            self._send(items)

    def _send(self, items: list[dict[str, Any]]) -> None:
        body = json.dumps(items[0] if self.s.batch <= 1 else items, default=str).encode()
        delay = self.s.backoff_ms / 1000.0
        for attempt in range(self.s.retries + 1):
            try:
                self._post(body)
                self.counts.ok(len(items))
                return
            except (http.client.HTTPException, OSError, ValueError) as e:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                if attempt == self.s.retries or self._closing.is_set():
                    log.warning("http output %s: dropped %d alert(s) after %d attempt(s): %s",
                                self.s.url, len(items), attempt + 1, e)
                    break
                self._closing.wait(delay)  # close() cuts the backoff short
                delay *= 2
        self.counts.drop(len(items))

    def _post(self, body: bytes) -> None:
        """One POST on a kept-alive connection; a non-2xx answer is a failure (retried)."""
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._hostport, timeout=self.s.timeout_ms / 1000.0)
        self._conn.request("POST", self._path, body=body, headers=self._headers)
        resp = self._conn.getresponse()
        resp.read()
        if resp.will_close:
            self._conn.close()
            self._conn = None
        if not 200 <= resp.status < 300:
            raise ValueError(f"HTTP {resp.status} {resp.reason}")

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued, one attempt each (no more backoff), then stop the sender;
        bounded by timeout_s, and at once when the endpoint is down."""
        deadline = time.monotonic() + timeout_s
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._q.put(None, timeout=timeout_s)  # behind what is queued: FIFO
        self._thread.join(max(0.0, deadline - time.monotonic()) + 0.5)


class SyslogPrinter:
    """RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG, one datagram per alert."""

    def __init__(self, s: SyslogSettings, metrics: Any | None = None) -> None:
        if s.facility not in FACILITIES:
            raise ValueError(f"syslog printer: unknown facility {s.facility!r}: use one of "
                             + ", ".join(FACILITIES))
        self.s = s
        self.counts = _Counts("syslog", metrics)
        self._facility = FACILITIES[s.facility]
        self._addr: Any
        if s.address.startswith("udp://"):
            host, _, port = s.address[len("udp://"):].rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"syslog printer: address must be udp://HOST:PORT ({s.address!r})")
            # resolved once here: a host name in sendto() would be a DNS lookup per alert,
            # on the event loop
            try:
                fam, _, _, _, self._addr = socket.getaddrinfo(
                    host.strip("[]"), int(port), type=socket.SOCK_DGRAM)[0]
            except (OSError, UnicodeError) as e:
                raise ValueError(f"syslog printer: cannot resolve {host!r}: {e}") from e
            self._sock = socket.socket(fam, socket.SOCK_DGRAM)
        else:
            self._addr = s.address
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._warned = False

    def format(self, det: Any) -> bytes:
        a = alert(det.event)
        pri = self._facility * 8 + SYSLOG_SEVERITY.get(a["priority"], 6)
        sd = (f'[jibril@32473 rule="{_sd(a["rule"])}" priority="{a["priority"]}" '
              f'uuid="{_sd(str(a.get("uuid", "")))}" schema_version="{a["schema_version"]}"]')
        head = f"<{pri}>1 {rfc3339()} {hostname() or '-'} {self.s.app_name} {os.getpid()} detection"
        return f"{head} {sd} \ufeff{a['output']}".encode()

    def emit(self, det: Any) -> None:
        try:
            self._sock.sendto(self.format(det), self._addr)
            self.counts.ok()
        except OSError as e:
            self.counts.drop()
            if not self._warned:  # once: the drops counter tells the rest
                self._warned = True
                log.warning("syslog output %s: %s (alerts dropped and counted)", self.s.address,
                            e.strerror or e)

    def close(self) -> None:
        self._sock.close()


def _sd(v: str) -> str:
    """Escape a structured-data parameter value (RFC 5424 section 6.3.3)."""
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
