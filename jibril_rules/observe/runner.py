"""Glue for `jibril run`: logging, the Observer and its HTTP server from config + flags."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from . import settings as S
from .logs import resolve_level, setup_logging

STDOUT_PRINTERS = ("stdout", "human", "stdout:json", "json", "none")


@dataclass
class Observability:
    observer: Any | None
    server: Any | None
    listen: str

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
        S.split_listen(listen_flag)  # ValueError: a clear message for the CLI
        host, _ = S.split_listen(listen_flag)
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
    return Observability(observer, None, listen)


def serve(obs: Observability, token: str | None) -> None:
    if obs.observer is None:
        return
    from .server import serve as start
    obs.server = start(obs.listen, obs.observer, token)
    logging.getLogger("jibril_rules.observe").info(
        "jibril: metrics, /healthz and the status page on http://%s/", obs.listen)


def printer_specs(cfg_printers: tuple[Any, ...], fmt: str, outputs: tuple[str, ...]) -> list[Any]:
    """stdout as --format says (unless the config says none), then the config's other
    printers, then --output ones."""
    first = [] if tuple(cfg_printers) == ("none",) else ["stdout" if fmt == "human" else "stdout:json"]
    rest = [p for p in cfg_printers if not (isinstance(p, str) and p in STDOUT_PRINTERS)]
    return [*first, *rest, *outputs]
