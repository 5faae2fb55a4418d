"""The `jibril` command: lint | compile | explain | replay | test | run | record | docs.

Thin: each command calls one module and turns JibrilError into located messages + exit codes
(0 clean, 1 findings/errors, 2 usage).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import Diagnostic, JibrilError


def _print_diags(diags: list[Diagnostic], sources: dict[str, Any] | None = None) -> None:
    from .lint import format_human
    sys.stderr.write(format_human(diags, sources or {}))


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except JibrilError as e:
        _print_diags(e.diagnostics)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jibril")
def main() -> None:
    """Runtime security: alchemy recipes -> in-kernel filters + decision tree + reactions."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["human", "json", "sarif", "github"]), default="human")
@click.option("--netpolicy/--no-netpolicy", default=None, help="Is the network policy configured? (default: from jibril.yaml)")
@click.option("--config", "config_path", default=None, help="Configuration file (default ./jibril.yaml).")
@click.option("-o", "--output", default=None, help="Write the report to a file.")
def lint(paths: tuple[str, ...], fmt: str, netpolicy: bool | None, config_path: str | None,
         output: str | None) -> None:
    """Check recipes; print every problem with file:line:column."""
    from .config import load_config
    from .lint import (
        LintOptions,
        format_github,
        format_human,
        format_json,
        format_sarif,
        lint_paths,
    )
    with _user_errors():
        cfg = load_config(config_path)
    np = cfg.netpolicy if netpolicy is None else netpolicy
    rs, diags = lint_paths(list(paths), LintOptions(netpolicy=np))
    text = {"human": lambda: format_human(diags, rs.sources), "json": lambda: format_json(diags),
            "sarif": lambda: format_sarif(diags), "github": lambda: format_github(diags)}[fmt]()
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)
    n_err = sum(d.severity.value == "error" for d in diags)
    if fmt == "human":
        click.echo(f"{len(rs.recipes)} recipe(s) checked", err=True)
    sys.exit(1 if n_err else 0)


@main.command(name="compile")
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Bundle file to write (e.g. recipes.jbundle).")
@click.option("--include-disabled", is_flag=True, help="Also compile recipes with enabled: false.")
@click.option("-v", "--verbose", is_flag=True, help="One summary line per recipe.")
@click.option("--tables", "show_tables", is_flag=True,
              help="Print every kernel map entry exactly as `jibril run` loads it.")
def compile_cmd(paths: tuple[str, ...], output: str, include_disabled: bool, verbose: bool,
                show_tables: bool) -> None:
    """Compile recipes into one hashed, reproducible bundle."""
    from .bundle import compile_ruleset, write
    from .ruleset import load_paths
    t0 = time.perf_counter()
    rs = load_paths(list(paths))
    if not rs.ok:
        _print_diags([d for d in rs.diagnostics if d.severity.value == "error"], rs.sources)
        sys.exit(1)
    with _user_errors():
        b = compile_ruleset(rs, include_disabled)
    write(b, output)
    t = b.tables
    click.echo(f"compiled {len(b.recipes)} recipe(s) from {len(rs.sources)} file(s) in "
               f"{(time.perf_counter() - t0) * 1000:.0f} ms -> {output} (hash {b.hash})")
    click.echo(f"kernel: {t.entry_count()} table entries (exact {len(t.file_exact)}, prefix "
               f"{len(t.file_prefix)}, basename {len(t.file_base)}, cidr "
               f"{len(t.net_remote_cidrs) + len(t.net_local_cidrs)}, ports "
               f"{len(t.net_remote_ports) + len(t.net_local_ports)}); pass-all: file actions "
               f"mask {t.file_any:#x}, network {t.net_any}")
    from .split import approx
    from .tree import describe, index_need
    atoms = list(b.atoms)
    indexed = 0
    for i, r in enumerate(b.recipes):
        need = index_need(r.ir.cond, atoms)
        indexed += need is not None
        if verbose or i < 20:
            a = approx(r.ir.cond, atoms)
            click.echo(f"  {r.name}: {_count_atoms(r.ir.cond)} residual predicate(s), "
                       f"{'indexed by ' + describe(need) if need else 'unindexed'}, "
                       f"{len(a.files) + len(a.nets)} kernel clause(s)")
    if len(b.recipes) > 20 and not verbose:
        click.echo(f"  ... {len(b.recipes) - 20} more (use -v)")
    click.echo(f"tree: {indexed}/{len(b.recipes)} recipes indexed, {len(atoms)} distinct predicates")
    if show_tables:
        click.echo(json.dumps(b.tables.to_json(), indent=1, sort_keys=True))


def _count_atoms(n: tuple[Any, ...]) -> int:
    if n[0] in ("a", "n"):
        return 1
    if n[0] in ("&", "|"):
        return sum(_count_atoms(k) for k in n[1])
    return 0


def _load(source: tuple[str, ...]) -> Any:
    from .bundle import load_any
    with _user_errors():
        return load_any(list(source) or ["alchemies"])


@main.command()
@click.argument("name")
@click.option("--from", "source", multiple=True, help="Recipe files/folders or a bundle (default: alchemies/).")
@click.option("--event", "event_file", default=None, help="A JSON event (or JSONL: each line) to trace.")
def explain(name: str, source: tuple[str, ...], event_file: str | None) -> None:
    """Show what a recipe does, what the kernel and the tree evaluate, and why it fired."""
    from .explain import explain as do_explain
    from .explain import trace
    from .replay import read_events
    b = _load(source)
    r = b.by_name(name)
    if r is None:
        import difflib
        near = difflib.get_close_matches(name, [x.name for x in b.recipes], n=3)
        click.echo(f"error: no recipe named '{name}'" + (f"; did you mean {', '.join(near)}?" if near else ""), err=True)
        sys.exit(2)
    click.echo(do_explain(b, r), nl=False)
    if event_file:
        errs: list[Diagnostic] = []
        for el in read_events(event_file, errs):
            click.echo("")
            click.echo(trace(b, r, el.event), nl=False)
        if errs:
            _print_diags(errs)
            sys.exit(1)


@main.command()
@click.argument("events")
@click.option("--from", "source", multiple=True, help="Recipe files/folders or a bundle (default: alchemies/).")
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human")
@click.option("--output", "outputs", multiple=True, help="Extra printer: jsonl:PATH.")
@click.option("--dry-run", is_flag=True,
              help="Kept for compatibility: replay always rehearses reactions (nothing acts on the host).")
@click.option("--enforce", is_flag=True,
              help="Kept for compatibility: replay still rehearses; only `jibril run` enforces.")
@click.option("--no-reactions", is_flag=True, help="Do not run reactions.")
@click.option("--no-kernel-model", is_flag=True, help="Skip the model of the in-kernel prefilter.")
@click.option("--aggregate", "aggregate_s", type=float, default=0.0,
              help="Gather a process's file actions over SECONDS, as `jibril run` does (default: off).")
@click.option("--config", "config_path", default=None)
def replay(events: str, source: tuple[str, ...], fmt: str, outputs: tuple[str, ...], dry_run: bool,
           enforce: bool, no_reactions: bool, no_kernel_model: bool, aggregate_s: float,
           config_path: str | None) -> None:
    """Run recorded events (JSONL) through the recipes; no root needed."""
    from .config import load_config
    from .engine import Engine
    from .printers import make_printers
    from .replay import read_events
    if dry_run and enforce:
        click.echo("error: --dry-run and --enforce exclude each other", err=True)
        sys.exit(2)
    with _user_errors():
        cfg = load_config(config_path)
    b = _load(source)
    printers = make_printers(["stdout" if fmt == "human" else "stdout:json", *outputs])
    engine = Engine(b, kernel_model=not no_kernel_model, aggregate_s=aggregate_s)
    rehearsal = None
    if not no_reactions and any(r.reactions for r in b.recipes):
        rehearsal = _rehearsal(cfg.reactions, enforce or any(r.mode == "enforce" for r in b.recipes))
    runtime = rehearsal.runtime if rehearsal is not None else None
    errs: list[Diagnostic] = []
    t0 = time.perf_counter()
    n_det = 0
    try:
        for el in read_events(events, errs):
            for d in engine.process(el.event, normalized=True):
                n_det += 1
                for p in printers:
                    p.emit(d)
                if runtime is not None and d.reactions:
                    _react(runtime, d, fmt)
    finally:
        for p in printers:
            p.close()
        if rehearsal is not None:
            rehearsal.close()
    s = engine.stats
    dt = time.perf_counter() - t0
    click.echo(f"{s.events} event(s), {s.kernel_dropped} dropped by the kernel filter, {n_det} "
               f"detection(s), {s.excepted} excepted, {s.capped} capped, {dt:.3f} s", err=True)
    if errs:
        _print_diags(errs)
        sys.exit(1)


def _rehearsal(settings: dict[str, Any], enforce: bool) -> Any:
    """Replay never acts on the host: a rehearsal in a scratch store (see reactions/rehearsal.py)."""
    from .reactions import REHEARSAL_NOTICE, Rehearsal
    reh = Rehearsal(settings, prefix="jibril-replay-")
    if enforce or reh.enforce_requested:
        click.echo(REHEARSAL_NOTICE, err=True)
    return reh


def _react(runtime: Any, d: Any, fmt: str) -> None:
    from .dispatch import reaction_call
    ref, specs = reaction_call(d.recipe)
    for rec in runtime.run_now(ref, specs, d.event):
        if fmt == "json":
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


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--no-reactions", is_flag=True, help="Skip expected-action checks.")
def test(paths: tuple[str, ...], no_reactions: bool) -> None:
    """Run recipe tests (*.test.yaml) kept next to the recipes."""
    from .testrunner import run_tests
    results, diags = run_tests(list(paths), reactions=not no_reactions)
    if diags:
        _print_diags(diags)
    passed = failed = 0
    for r in results:
        if r.ok:
            passed += 1
            click.echo(f"PASS {r.name}  ({r.span})")
        else:
            failed += 1
            click.echo(f"FAIL {r.name}  ({r.span})")
            for f in r.failures:
                click.echo(f"     {f}")
    click.echo(f"jibril test: {passed} passed, {failed} failed")
    if not results and not diags:
        click.echo("no *.test.yaml files found", err=True)
        sys.exit(1)
    sys.exit(1 if failed or any(d.severity.value == "error" for d in diags) else 0)


@main.command()
@click.argument("command", type=click.Choice(["ping", "stats", "reload", "mode", "clear-mode"]))
@click.argument("mode", required=False, type=click.Choice(["monitor", "enforce"]))
@click.option("--recipe", default=None, help="Apply the mode to one recipe only.")
@click.option("--socket", "sock", default=None, help="Control socket of the agent.")
def ctl(command: str, mode: str | None, recipe: str | None, sock: str | None) -> None:
    """Talk to a running agent: switch monitor/enforce (globally or per recipe), reload, stats."""
    from .control import DEFAULT_SOCKET, request
    if command == "mode" and mode is None:
        click.echo("error: say which mode: jibril ctl mode monitor|enforce [--recipe NAME]", err=True)
        sys.exit(2)
    msg: dict[str, Any] = {"cmd": command}
    if mode:
        msg["mode"] = mode
    if recipe:
        msg["recipe"] = recipe
    path = sock or DEFAULT_SOCKET
    try:
        reply = request(path, msg)
    except OSError as e:
        click.echo(f"error: no agent answers on {path} ({e.strerror or e}); is `jibril run` running? "
                   "(--socket PATH)", err=True)
        sys.exit(1)
    click.echo(json.dumps(reply, sort_keys=True))
    sys.exit(0 if reply.get("ok") else 1)


@main.command()
@click.option("--out", "out_dir", default="docs", help="Folder to write the reference pages to.")
def docs(out_dir: str) -> None:
    """Generate the field, operator and diagnostic reference pages from the registries."""
    from .docgen import write_docs
    for p in write_docs(out_dir):
        click.echo(f"wrote {p}")


def _register_live() -> None:
    try:
        from .sensor import cli as live
    except Exception:  # noqa: BLE001 - the live sensor is optional at import time
        return
    for name in ("run", "record"):
        cmd = getattr(live, name, None)
        if isinstance(cmd, click.Command):
            main.add_command(cmd, name)


_register_live()

if __name__ == "__main__":
    main()
