"""`jibril replay`: recorded events through the recipes, printers and reactions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..core.errors import Diagnostic
from .app import load_bundle, print_diags, printers_or_fail, user_errors
from .conventions import command, fail, opts


@command(examples=[
    ("jibril replay events.jsonl", "through the configured recipes (built-ins + /etc/jibril/recipes)"),
    ("jibril replay ev.jsonl --from my/", "detections and the reactions' intended actions (rehearsed)"),
    ("zcat ev.jsonl.gz | jibril replay - --format json", "events from stdin, JSON lines out"),
    ("jibril replay ev.jsonl --dry-run -o reactions.netpolicy=true", "with a config override"),
], exits={1: "bad event lines or recipe errors (each located)", 2: "usage error"}, config=True)
@click.argument("events", metavar="EVENTS.jsonl|-")
@click.option("--from", "source", multiple=True, metavar="PATH|BUNDLE|-",
              show_default="the configured recipe paths",
              help="Recipe files/folders or a .jbundle; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human",
              help="Detections as human lines or JSON lines (Jibril's event shape).")
@click.option("--output", "outputs", multiple=True, metavar="PRINTER", show_default="none",
              help="Extra printer, e.g. jsonl:PATH; repeatable.")
@click.option("--dry-run", is_flag=True,
              help="Kept for compatibility: replay always rehearses reactions (nothing acts on the host).")
@click.option("--enforce", is_flag=True,
              help="Kept for compatibility: replay still rehearses; only `jibril run` enforces.")
@click.option("--no-reactions", is_flag=True, help="Do not run reactions.")
@click.option("--no-kernel-model", is_flag=True, help="Skip the model of the in-kernel prefilter.")
@click.option("--aggregate", "aggregate_s", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
              help="Gather a process's file actions over SECONDS, as `jibril run` does (0: off).")
@click.option("--reactions-output", "reactions_out", default=None, metavar="FILE", show_default="none",
              help="Write reaction records (JSON lines) to this file, apart from the detections.")
def replay(events: str, source: tuple[str, ...], fmt: str, outputs: tuple[str, ...], dry_run: bool,
           enforce: bool, no_reactions: bool, no_kernel_model: bool, aggregate_s: float,
           reactions_out: str | None) -> None:
    """Run recorded events (JSONL) through the recipes, printers and reactions; no root needed."""
    from ..runtime.engine import Engine
    from ..runtime.pipeline import Pipeline
    from ..tools.replay import read_events
    o = opts()
    if dry_run and enforce:
        fail("--dry-run and --enforce exclude each other", 2)
    cfg = o.config()
    b = load_bundle(source) if not cfg.bundles.get("trust") else _trusted(source, cfg)
    printers = printers_or_fail(cfg, fmt, outputs)
    sink = None
    if reactions_out:
        try:
            sink = open(reactions_out, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as e:
            fail(f"cannot write reaction records to {reactions_out}: {e.strerror}; check that the "
                 "folder exists and is writable")
    engine = Engine(b, kernel_model=not no_kernel_model, aggregate_s=aggregate_s)
    rehearsal = None
    if not no_reactions and any(r.reactions for r in b.recipes):
        with user_errors():
            rehearsal = _rehearsal(cfg.reactions, enforce or any(r.mode == "enforce" for r in b.recipes))
    runtime = rehearsal.runtime if rehearsal is not None else None
    errs: list[Diagnostic] = []
    t0 = time.perf_counter()
    pipe = Pipeline(engine, printers, runtime, on_records=lambda d, recs: _show(d, recs, fmt, sink))
    try:
        for el in read_events(events, errs):
            pipe.feed(el.event, normalized=True)
    finally:
        if sink is not None:
            sink.close()
        pipe.close()
        if rehearsal is not None:
            rehearsal.close()
    n_det = pipe.matches
    s = engine.stats
    dt = time.perf_counter() - t0
    o.note(f"{s.events} event(s), {s.kernel_dropped} dropped by the kernel filter, {n_det} "
               f"detection(s), {s.excepted} excepted, {s.capped} capped, {dt:.3f} s")
    if errs:
        print_diags(errs)
        sys.exit(1)


def _rehearsal(settings: dict[str, Any], enforce: bool) -> Any:
    """Replay never acts on the host: a rehearsal in a scratch store (see reactions/rehearsal.py)."""
    from ..reactions import REHEARSAL_NOTICE, REHEARSAL_SHARED_STORE_NOTICE, Rehearsal
    reh = Rehearsal(settings, prefix="jibril-replay-")
    if enforce or reh.enforce_requested:
        click.echo(REHEARSAL_NOTICE, err=True)
    if reh.shared_store_skipped:
        click.echo(REHEARSAL_SHARED_STORE_NOTICE.format(url=reh.shared_store_skipped), err=True)
    return reh


def _show(d: Any, records: Any, fmt: str, sink: Any = None) -> None:
    for rec in records:
        if sink is not None:  # their own stream: never mixed into the detections
            sink.write(json.dumps(rec.to_dict(), sort_keys=True, default=str) + "\n")
        elif fmt == "json":
            click.echo(json.dumps({"reaction": rec.to_dict()}, sort_keys=True, default=str))
        else:
            calls = ", ".join(f"{c.name}({', '.join(_short(a) for a in c.args)})={_short(c.result)}"
                              for c in rec.calls)
            mode = "rehearsal" if rec.extra.get("rehearsal") else rec.mode
            click.echo(f"  REACT {d.recipe_name}#{rec.index} {rec.status} [{mode}] {rec.duration_ms:.1f} ms: {calls}"
                       + (f" error: {rec.error}" if rec.error else ""))


def _short(v: Any, n: int = 60) -> str:
    """repr() cut to n characters: the audit trail (JSON) keeps the full arguments."""
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


def _trusted(source: tuple[str, ...], cfg: Any) -> Any:
    """bundles.trust set: a bundle file must be signed by a trusted key (fleet/trust.py)."""
    from ..bundle import is_bundle_path
    from ..fleet.trust import load_checked, policy_for
    paths = list(source)
    if not (len(paths) == 1 and Path(paths[0]).is_file() and is_bundle_path(paths[0])):
        return load_bundle(source)  # recipe sources being developed: replay is a rehearsal
    with user_errors():
        return load_checked(paths, policy_for(cfg), lambda line: click.echo(line, err=True))[0]
