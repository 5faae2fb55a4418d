"""Control socket of a running agent: switch monitor/enforce, reload, read stats.

One JSON object per line over a unix socket (mode 0600, so root only), answered by one JSON
object: {"ok": true, ...} or {"ok": false, "error": "..."}. `jibril ctl` is the client.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from ..core.vocab import MODES

DEFAULT_SOCKET = "/run/jibril-rules/control.sock"
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlServer:
    def __init__(self, path: str, handler: Handler) -> None:
        self.path, self.handler = path, handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            s.bind(self.path)
        finally:
            os.umask(old)
        s.listen(8)
        self._sock = s
        self._thread = threading.Thread(target=self._serve, name="jibril-control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sock = self._sock
        while sock is not None:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(5)
                try:
                    line = conn.makefile("rb").readline(65536)
                    msg = json.loads(line or b"{}")
                    reply = self.handler(msg) if isinstance(msg, dict) else _err("send a JSON object")
                except (OSError, ValueError) as e:
                    reply = _err(f"bad request: {e}")
                except Exception as e:  # noqa: BLE001 - a bad command must not stop the agent
                    reply = _err(f"{type(e).__name__}: {e}")
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(reply, default=str).encode() + b"\n")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _err(msg: str) -> dict[str, Any]:
    return {"ok": False, "error": msg}


def agent_handler(runtime: Any | None, reload: Callable[..., None],
                  stats: Callable[[], dict[str, Any]],
                  on_mode: Callable[[], None] | None = None) -> Handler:
    """Commands: ping, stats, reload, mode {mode, recipe?}, clear-mode {recipe}."""
    def handle(msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg.get("cmd")
        if cmd == "ping":
            return {"ok": True}
        if cmd == "stats":
            return {"ok": True, "stats": stats()}
        if cmd == "reload":
            force = msg.get("force") is True
            reload(force=force)
            return {"ok": True, "reload": "requested", "force": force}
        if cmd in ("mode", "clear-mode"):
            if runtime is None:
                return _err("reactions are disabled in this agent (--no-reactions)")
            recipe = msg.get("recipe")
            if cmd == "clear-mode":
                if not recipe:
                    return _err("clear-mode needs a recipe")
                runtime.clear_mode(str(recipe))
            else:
                mode = msg.get("mode")
                if mode not in MODES:
                    return _err("mode must be monitor or enforce")
                runtime.set_mode(mode, str(recipe) if recipe else None)
            if on_mode is not None:
                on_mode()  # prevent: recipes follow the mode in the kernel, live
            from ..reactions import RecipeRef
            return {"ok": True, "recipe": recipe,
                    "mode": runtime.mode_for(RecipeRef("", str(recipe or "")))}
        return _err(f"unknown command {cmd!r}: use ping, stats, reload, mode, clear-mode")
    return handle


def request(path: str, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(msg).encode() + b"\n")
        data = s.makefile("rb").readline()
    reply = json.loads(data)
    return reply if isinstance(reply, dict) else _err("bad reply")
