"""Glue for `jibril run`: logging, the Observer and its HTTP server from config + flags."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..runtime.printers import HUMAN, JSON, NONE, STDOUT_PRINTERS
from . import settings as S
from .logs import resolve_level, setup_logging


@dataclass
class Observability:
    observer: Any | None
    server: Any | None
    listen: str
    explicit: bool = False  # listen came from the flag or the config, not the default

    def close(self) -> None:
        from .server import stop
        stop(self.server)

    @property
    def metrics(self) -> Any | None:
        return self.observer.metrics if self.observer is not None else None


def configure(observe_cfg: dict[str, Any], listen_flag: str | None, level_flag: str | None,
              format_flag: str | None) -> Observability:
    """Set up logging and build the Observer (None when metrics.listen is "")."""
    problems: list[S.Problem] = []
    ms = S.metrics_settings(observe_cfg.get("metrics"), problems)
    ls = S.log_settings(observe_cfg.get("log"), problems)
    listen = ms.listen if listen_flag is None else listen_flag
    if listen_flag:
        host, _ = S.split_listen(listen_flag)  # ValueError: a clear message for the CLI
        if not S.is_loopback(host) and not ms.token:
            raise ValueError(f"--metrics-listen {listen_flag} is not loopback: set metrics.token "
                             "in the config")
    observer = None
    if listen:
        from .hub import Observer
        observer = Observer(stall_s=ms.stall_s)
    setup_logging(resolve_level(level_flag, ls.level), format_flag or ls.format,
                  rate_per_s=ls.rate_per_s, burst=ls.burst,
                  on_drop=observer.on_log_dropped if observer is not None else None)
    explicit = listen_flag is not None or "listen" in (observe_cfg.get("metrics") or {})
    return Observability(observer, None, listen, explicit)


def serve(obs: Observability, token: str | None) -> None:
    """Start the HTTP server. OSError when an address asked for explicitly is taken; on the
    default address the agent warns and goes on without it (protection first)."""
    if obs.observer is None:
        return
    from .server import serve as start
    log = logging.getLogger("jibril_rules.observe")
    try:
        obs.server = start(obs.listen, obs.observer, token)
    except OSError as e:
        if obs.explicit:
            raise
        log.warning("jibril: cannot serve metrics on %s (%s): running without them; set "
                    "metrics.listen or --metrics-listen", obs.listen, e.strerror or e)
        return
    host, port = str(obs.server.server_address[0]), obs.server.server_address[1]
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    log.info("jibril: metrics, /healthz and the status page on http://%s/", shown)  # real port


def printer_specs(cfg_printers: tuple[Any, ...], fmt: str, outputs: tuple[str, ...]) -> list[Any]:
    """stdout as --format says (unless the config says none), then the config's other
    printers, then --output ones."""
    first = [] if NONE in cfg_printers else [HUMAN[0] if fmt == "human" else JSON[0]]
    rest = [p for p in cfg_printers if not (isinstance(p, str) and p in STDOUT_PRINTERS)]
    return [*first, *rest, *outputs]
