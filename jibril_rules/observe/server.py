"""The agent's HTTP server: /metrics, /healthz, the status page / and its JSON /api/status.

Loopback by default. Bound elsewhere it needs the configured token on every path but /healthz
(`Authorization: Bearer TOKEN`, or `?token=TOKEN` for a browser). The page is a static file of
this package: plain HTML and JS, no external assets.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client.exposition import choose_encoder

from .hub import Observer
from .settings import is_loopback, split_listen

log = logging.getLogger("jibril_rules.observe")
_TOKEN_RE = re.compile(r"([?&])token=[^&\s]*")


def status_page() -> bytes:
    return resources.files("jibril_rules.observe").joinpath("static/status.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: ObserveServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        # the request line carries ?token=... for a browser: never into the log
        args = tuple(_TOKEN_RE.sub(r"\1token=REDACTED", a) if isinstance(a, str) else a
                     for a in args)
        log.debug("http %s " + fmt, self.client_address[0], *args)

    def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj, default=str).encode(), "application/json")

    def _authorized(self, query: dict[str, list[str]]) -> bool:
        token = self.server.token
        if not token:
            return True
        got = self.headers.get("Authorization", "")
        given = got[7:] if got.startswith("Bearer ") else (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), token.encode())

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        obs = self.server.observer
        try:
            if url.path == "/healthz":
                code, body = obs.health()
                self._json(code, body)
                return
            if not self._authorized(query):
                self._send(401, b"token required\n", "text/plain",
                           {"WWW-Authenticate": 'Bearer realm="jibril"'})
                return
            if url.path == "/metrics":
                encoder, ctype = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, encoder(obs.metrics.registry), ctype)
            elif url.path in ("/", "/index.html"):
                self._send(200, status_page(), "text/html; charset=utf-8",
                           {"Content-Security-Policy": "default-src 'self'; script-src "
                            "'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:"})
            elif url.path == "/api/status":
                self._json(200, obs.status())
            else:
                self._send(404, b"not found: try /, /metrics, /healthz, /api/status\n",
                           "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass


class ObserveServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], observer: Observer, token: str | None) -> None:
        self.observer, self.token = observer, token
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, _Handler)


def serve(listen: str, observer: Observer, token: str | None = None) -> ObserveServer:
    """Start serving in a daemon thread; raises OSError when the address is taken."""
    host, port = split_listen(listen)
    if not is_loopback(host) and not token:
        raise ValueError(f"metrics.listen {listen} is not loopback: set metrics.token")
    srv = ObserveServer((host, port), observer, token or None)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         name="jibril-http", daemon=True)
    t.start()
    return srv


def stop(srv: ObserveServer | None) -> None:
    if srv is not None:
        with contextlib.suppress(OSError):
            srv.shutdown()
            srv.server_close()
