"""`jibril run` and `jibril record`: the live sensor (root)."""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any, NoReturn

import click

from ..runtime.control import DEFAULT_SOCKET
from ..sensor.bccload import SensorUnavailable, preflight
from .app import fail, open_printers, recipe_sources, user_errors
from .conventions import command
from .conventions import opts as cli_opts


def _fail(msg: str, code: int = 1) -> NoReturn:
    fail(msg, code)


def _say(line: str) -> None:
    click.echo(line, err=True)


def _user_error(e: Exception) -> NoReturn:
    from ..core.report import format_human
    sys.stderr.write(format_human(getattr(e, "diagnostics", []), {}))
    sys.exit(1)


def _bundle(source: tuple[str, ...] | list[str], policy: Any = None) -> Any:
    from ..core.errors import JibrilError
    try:
        return _reload(source, policy)
    except JibrilError as e:
        _user_error(e)


def _reload(source: tuple[str, ...] | list[str], policy: Any = None) -> Any:
    """For SIGHUP: errors raise (the agent keeps its current bundle) instead of exiting."""
    from ..runtime.loading import load_isolated
    if policy is None:
        return load_isolated(list(source))
    from ..fleet.trust import load_checked  # bundles.trust applies to every load
    return load_checked(list(source), policy, _say)[0]


@command(examples=[
    ("sudo jibril run --dry-run", "the configured recipes live; reactions only say what they would do"),
    ("sudo jibril run --from my.jbundle --for 60", "a compiled bundle for one minute"),
    ("sudo jibril run -o reactions.mode=enforce --format json", "reactions act; JSON lines out"),
], exits={1: "the sensor cannot run here (the message says why) or the recipes have errors"},
    config=True)
@click.option("--from", "source", multiple=True, metavar="PATH|BUNDLE",
              show_default="the configured recipe paths", help="Recipe files/folders or a .jbundle; repeatable.")
@click.option("--dry-run", is_flag=True, help="Reactions record what they would do (monitor mode).")
@click.option("--enforce", is_flag=True, help="Reactions act for real (overrides the config mode).")
@click.option("--no-reactions", is_flag=True, help="Detect and print only.")
@click.option("--for", "duration", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              show_default="until SIGINT", help="Stop after SECONDS.")
@click.option("--stats", "stats_fmt", type=click.Choice(["text", "json"]), default="text",
              help="Format of the periodic status line (stderr).")
@click.option("--status-every", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds between status lines.")
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human",
              help="Detections as human lines or JSON lines (Jibril's event shape).")
@click.option("--output", "outputs", multiple=True, metavar="PRINTER", show_default="none",
              help="Extra printer, e.g. jsonl:PATH; repeatable.")
@click.option("--aggregate", "aggregate_s", type=click.FloatRange(min=0), default=9.0, show_default=True,
              help="Seconds over which a process's actions on a file are gathered (0: per syscall).")
@click.option("--control", "control_path", default=DEFAULT_SOCKET, show_default=True,
              help="Control socket for `jibril ctl` ('' to disable).")
@click.option("--metrics-listen", default=None, metavar="HOST:PORT",
              show_default="config metrics.listen, else 127.0.0.1:9376",
              help="Where /metrics, /healthz and the status page listen ('' turns them off).")
@click.option("--log-level", default=None, metavar="LEVEL",
              show_default="$JIBRIL_LOG_LEVEL, else config log.level, else info",
              help="Log level: debug, info, warning or error.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              show_default="config log.format, else text", help="Log lines as text or JSON.")
@click.option("--follow", "follow_ref", default=None, metavar="REF", show_default="off",
              help="Follow REGISTRY/REPO:TAG: swap to each new signed bundle it points at.")
@click.option("--every", default="30s", show_default=True, help="Poll interval of --follow (2s, 5m).")
@click.option("--key", "keys", multiple=True, metavar="PREFIX.pub", show_default="bundles.trust",
              help="Trust key for the bundles loaded or followed; repeatable.")
@click.option("--plain-http", is_flag=True, help="--follow a registry without TLS (127.0.0.1).")
def run(source: tuple[str, ...], dry_run: bool, enforce: bool, no_reactions: bool,
        duration: float | None, stats_fmt: str, status_every: float, fmt: str,
        outputs: tuple[str, ...], aggregate_s: float, control_path: str,
        metrics_listen: str | None, log_level: str | None, log_format: str | None,
        follow_ref: str | None, every: str, keys: tuple[str, ...], plain_http: bool) -> None:
    """Watch this machine live (root): eBPF sensors -> recipes -> printers -> reactions.

    Prints a line containing 'ready' once every program is attached and the tables are
    loaded; SIGHUP reloads the recipes without detaching; SIGINT/SIGTERM stop cleanly.
    """
    from ..sensor.agent import Agent, AgentOptions
    if dry_run and enforce:
        _fail("--dry-run and --enforce exclude each other", 2)
    from ..observe import runner as observe
    cfg = cli_opts().config()  # the command line and the config first: they need no sensor
    try:
        specs = cfg.printer_specs(fmt, outputs)
    except ValueError as e:
        _fail(str(e), 2)
    try:
        preflight()
    except SensorUnavailable as e:
        _fail(str(e))
    from ..core.errors import JibrilError
    from ..fleet.trust import policy_for
    follower = None
    with user_errors():
        policy = policy_for(cfg, keys)
    try:
        obs = observe.configure(cfg.observe, metrics_listen, log_level, log_format)
    except ValueError as e:
        _fail(str(e), 2)
    paths: list[str] = []
    try:
        if follow_ref:  # fleet: the bundle comes from a registry tag (fleet/follow.py)
            if source:
                _fail("--follow and --from exclude each other", 2)
            from ..fleet.follow import setup
            follower = setup(follow_ref, every, plain_http, policy, dict(cfg.reactions), _say)
            bundle = follower.initial()
        else:
            paths = recipe_sources(source, cfg=cfg)
            bundle = _reload(paths, policy)
    except JibrilError as e:
        _user_error(e)
    printers = open_printers(specs, metrics=obs.metrics)
    runtime = None
    if not no_reactions and (follower or any(r.reactions for r in bundle.recipes)):
        from ..runtime.pipeline import reaction_runtime
        runtime = reaction_runtime(cfg.reactions, "monitor" if dry_run else "enforce" if enforce else None)
    opts = AgentOptions(status_every_s=status_every, stats_json=stats_fmt == "json",
                        duration_s=duration, aggregate_s=aggregate_s)
    agent = Agent(bundle, printers, runtime, loader=lambda: _reload(paths, policy), opts=opts,
                  observer=obs.observer)
    agent.default_mode = "enforce" if enforce else str(cfg.reactions.get("mode", "monitor"))
    if follower is not None:
        agent.loader = lambda: follower.poke()  # SIGHUP / ctl reload: poll the registry now
        agent.extras["fleet"] = follower.status
    if runtime is not None and hasattr(runtime.services.store, "stats"):
        agent.extras["store"] = runtime.services.store.stats
    agent.install_signals()
    try:
        observe.serve(obs, (cfg.observe.get("metrics") or {}).get("token"))
    except OSError as e:
        _fail(f"cannot serve metrics on {obs.listen}: {e.strerror or e}; pass --metrics-listen "
              "HOST:PORT (or '' to turn it off)")
    control = None
    if control_path:
        from ..runtime.control import ControlServer, agent_handler
        control = ControlServer(control_path, agent_handler(runtime, agent.request_reload, agent.status,
                                                            agent.sync_prevent))
        try:
            control.start()
        except OSError as e:
            _fail(f"cannot open the control socket {control_path}: {e.strerror}; pass --control PATH")
    try:
        agent.start()
    except SensorUnavailable as e:
        agent.close()
        obs.close()
        _fail(str(e))
    except Exception as e:
        agent.close()
        obs.close()
        _fail(f"could not load the BPF programs: {e}; check `dmesg` and run: sudo jibril setup")
    if follower is not None:
        follower.start(agent.offer)
    try:
        agent.run()
    finally:
        if follower is not None:
            follower.stop()
        if control is not None:
            control.close()
        obs.close()


@command(examples=[
    ("sudo jibril record -o ev.jsonl --for 30", "every raw event for 30 seconds"),
    ("sudo jibril record -o ev.jsonl --from my/", "only what my recipes' kernel tables pass"),
    ("jibril replay ev.jsonl --from my/", "then replay them anywhere, without root"),
], exits={1: "the sensor cannot run here (the message says why)"})
@click.option("-o", "--output", "out_path", required=True, metavar="FILE", help="JSONL file to write raw events to.")
@click.option("--for", "duration", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              show_default="until SIGINT", help="Stop after SECONDS.")
@click.option("--from", "source", multiple=True, metavar="PATH|BUNDLE", show_default="everything",
              help="Record only what these recipes' kernel tables pass.")
def record(out_path: str, duration: float | None, source: tuple[str, ...]) -> None:
    """Record live raw events as JSONL for `jibril replay` (root)."""
    from ..sensor.sensor import Sensor
    try:
        out = open(out_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except OSError as e:
        _fail(f"cannot write events to {out_path}: {e.strerror}; check that the folder exists and is writable")
    try:
        preflight()
    except SensorUnavailable as e:
        out.close()
        _fail(str(e))
    tables = _bundle(source).tables if source else None
    n = 0
    with out:
        def write(ev: dict[str, Any]) -> None:
            nonlocal n
            out.write(json.dumps(ev, sort_keys=True) + "\n")
            n += 1

        stop = False

        def on_signal(*_: Any) -> None:
            nonlocal stop
            stop = True
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        sensor = Sensor(tables, write)
        try:
            sensor.start()
        except SensorUnavailable as e:
            _fail(str(e))
        click.echo(f"jibril: ready: recording to {out_path}"
                   + (f" for {duration:g} s" if duration else " until SIGINT"))
        t0 = time.monotonic()
        try:
            while not stop and (duration is None or time.monotonic() - t0 < duration):
                sensor.poll(100)
            sensor.drain()
            st = sensor.stats()
        finally:
            sensor.close()
    click.echo(f"jibril: recorded {n} event(s) to {out_path}; {st.lost} lost in the kernel, "
               f"{st.userspace.get('callback_errors', 0)} assembly errors", err=True)
