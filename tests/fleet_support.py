"""Real servers for the fleet tests: the CNCF distribution registry and redis-server.

Each binds 127.0.0.1 on a free port, keeps its data under a temp dir, and is stopped by the
context manager that started it (only that process is ever signalled).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        reason = f"{binary} not installed (apt-get install {package}; scripts/setup.sh does it)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return path


class Server:
    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.argv, self.port, self.log = argv, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


def _wait(probe: object, what: str, log: Path, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if probe():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")


class Registry(Server):
    def start(self) -> None:
        super().start()
        _wait(lambda: urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1).status == 200,
              "docker-registry", self.log)


@contextmanager
def registry(tmp: Path) -> Iterator[Registry]:
    binary = _need("docker-registry", "docker-registry")
    port = free_port()
    (tmp / "storage").mkdir(parents=True, exist_ok=True)
    cfg = tmp / "registry.yml"
    cfg.write_text(f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {tmp / 'storage'}}}
  delete: {{enabled: true}}
http:
  addr: 127.0.0.1:{port}
""")
    srv = Registry([binary, "serve", str(cfg)], port, tmp / "registry.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class Redis(Server):
    def start(self) -> None:
        super().start()

        def ping() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        _wait(ping, "redis-server", self.log)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def redis_server(tmp: Path) -> Iterator[Redis]:
    binary = _need("redis-server", "redis-server")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    srv = Redis([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(tmp), "--protected-mode", "yes"],
                port, tmp / "redis.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
