"""The conventions every `jibril` command follows, in one decorator.

    from .conventions import command, opts

    @command(examples=[("jibril keygen -o key.pem", "a new signing key")],
             exits={1: "the key could not be written"}, config=True)
    @click.option("--name", default="x", help="What it is (always say what an option does).")
    def keygen(name: str) -> None:
        o = opts()            # -q / -v / colour / --config / -o, already parsed
        cfg = o.config()      # lookup order + -o overrides, errors located (exit 1)
        o.note("said unless -q"); o.debug("said with -v")

`command` (or `group_command(group, ...)` for subcommands of a group) adds `-q/--quiet`,
`-v/--verbose`, `--color/--no-color` and, with `config=True`, `--config FILE` and
`-o/--set KEY.SUB=VALUE`; puts 2-4 examples and the exit codes in `--help` (and docs/cli.md);
and makes every option show its default and read `JIBRIL_<COMMAND>_<OPTION>` (the group's
auto_envvar_prefix). Colour: on a terminal only; never with NO_COLOR set or --no-color.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from .app import fail, main, print_diags

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2
BASE_EXITS = {0: "success", 1: "errors or findings (located messages on stderr)",
              2: "usage error: bad option or argument, nothing to read"}
_META = "jibril.opts"
_COMMON = ("quiet", "verbose", "color", "config_path", "overrides")


@dataclass
class Opts:
    """What the common options said, for the command body."""

    quiet: bool = False
    verbose: int = 0
    config_path: str | None = None
    overrides: tuple[str, ...] = ()
    color: bool | None = None

    def note(self, msg: str) -> None:
        """An informational line on stderr (silenced by -q)."""
        if not self.quiet:
            click.echo(msg, err=True)

    def debug(self, msg: str) -> None:
        """A line on stderr shown with -v."""
        if self.verbose and not self.quiet:
            click.echo(click.style(msg, dim=True), err=True)

    def debug_lookup(self) -> None:
        """With -v: the configuration lookup order."""
        from ..config import DEFAULT_NAMES, SYSTEM_CONFIG
        self.debug("config lookup: " + ", ".join(
            ["--config / $JIBRIL_CONFIG" + (f" = {self.config_path}" if self.config_path else " (unset)")]
            + ["./" + p for p in DEFAULT_NAMES] + ["/" + SYSTEM_CONFIG]))

    def config(self, search: bool = True) -> Any:
        """jibril.yaml by the lookup order, with the -o overrides; bad input exits 1 (2 for
        an override that is not KEY=VALUE), with located messages."""
        from ..config import load_config
        from ..core.errors import JibrilError
        from ..overrides import OverrideError
        self.debug_lookup()
        try:
            cfg = load_config(self.config_path, self.overrides, search=search)
        except OverrideError as e:
            fail(str(e), EXIT_USAGE)
        except JibrilError as e:
            print_diags(e.diagnostics)
            sys.exit(1)
        self.debug(f"using {cfg.origin}")
        return cfg


def opts() -> Opts:
    """The common options of the running command (defaults outside one)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if _META in ctx.meta:
            return ctx.meta[_META]  # type: ignore[no-any-return]
        ctx = ctx.parent
    return Opts()


def epilog(examples: Sequence[tuple[str, str]], exits: dict[int, str] | None = None) -> str:
    """The --help tail: examples and exit codes, laid out verbatim (click's \\b)."""
    codes = {**BASE_EXITS, **(exits or {})}
    width = max(len(c) for c, _ in examples) + 2 if examples else 0
    lines = ["\b", "Examples:"] + [f"  {c.ljust(width)}{w}" if w else f"  {c}" for c, w in examples]
    lines += ["", "\b", "Exit codes:"] + [f"  {k}  {v}" for k, v in sorted(codes.items())]
    return "\n".join(lines)


def _common_options(f: F, config: bool, short_set: bool = True) -> F:
    decorators = [
        click.option("-q", "--quiet", is_flag=True, default=False,
                     help="Only errors and results: no notes or summaries on stderr."),
        click.option("-v", "--verbose", count=True, default=0,
                     help="More detail (config lookup, recipe paths, per-item lines); repeat for more."),
        click.option("--color/--no-color", "color", default=None, show_default="auto",
                     help="Colour the output (default: only on a terminal, never with NO_COLOR set)."),
    ]
    if config:
        decorators += [
            click.option("--config", "config_path", default=None, envvar="JIBRIL_CONFIG",
                         show_envvar=True, metavar="FILE", show_default="./jibril.yaml, then /etc/jibril/jibril.yaml",
                         help="Configuration file to read instead of the lookup."),
            click.option(*(("-o", "--set") if short_set else ("--set",)), "overrides", multiple=True,
                         metavar="KEY.SUB=VALUE",
                         show_default="none",
                         help="Override one configuration key (YAML value), checked like the file; repeatable. "
                              "E.g. -o reactions.mode=enforce."),
        ]
    holder: Any = lambda: None  # noqa: E731 - collects the options' click params
    for d in reversed(decorators):
        holder = d(holder)
    # the command's own options first in --help, the common ones after them
    f.__click_params__ = holder.__click_params__ + list(getattr(f, "__click_params__", []))  # type: ignore[attr-defined]
    return f


def _wrap(f: F, config: bool, short_set: bool = True) -> F:
    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        o = Opts(quiet=kwargs.pop("quiet", False), verbose=kwargs.pop("verbose", 0),
                 color=kwargs.pop("color", None))
        if config:
            o.config_path = kwargs.pop("config_path", None)
            o.overrides = tuple(kwargs.pop("overrides", ()))
        if o.color is None and os.environ.get("NO_COLOR"):
            o.color = False
        ctx.color = o.color
        ctx.meta[_META] = o
        return f(*args, **kwargs)
    return _common_options(run, config, short_set)  # type: ignore[arg-type,return-value]


def _decorate(group: click.Group, name: str | None, examples: Sequence[tuple[str, str]],
              exits: dict[int, str] | None, config: bool | str, kw: dict[str, Any]) -> Callable[[F], click.Command]:
    if not 2 <= len(examples) <= 4:
        raise ValueError(f"a command shows 2-4 examples, got {len(examples)}")

    def deco(f: F) -> click.Command:
        short = config != "set-only"
        cmd = group.command(name, epilog=epilog(examples, exits), **kw)(_wrap(f, bool(config), short))
        cmd.jibril_examples = tuple(examples)  # type: ignore[attr-defined]
        cmd.jibril_exits = {**BASE_EXITS, **(exits or {})}  # type: ignore[attr-defined]
        cmd.jibril_config = bool(config)  # type: ignore[attr-defined]
        return cmd
    return deco


def command(name: str | None = None, *, examples: Sequence[tuple[str, str]],
            exits: dict[int, str] | None = None, config: bool | str = False,
            **kw: Any) -> Callable[[F], click.Command]:
    """A `jibril NAME` command with the common options, examples and exit codes.

    config=True adds --config and -o/--set; config="set-only" gives the overrides only as
    --set (for a command whose -o is its output file, like `pull -o FILE`)."""
    return _decorate(main, name, examples, exits, config, kw)


def group_command(group: click.Group, name: str | None = None, *,
                  examples: Sequence[tuple[str, str]], exits: dict[int, str] | None = None,
                  config: bool | str = False, **kw: Any) -> Callable[[F], click.Command]:
    """A subcommand (`jibril GROUP NAME`) with the same conventions."""
    return _decorate(group, name, examples, exits, config, kw)


def group(name: str, *, examples: Sequence[tuple[str, str]], help: str,
          **kw: Any) -> click.Group:
    """A `jibril NAME ...` group (its subcommands use group_command)."""
    g = click.Group(name, help=help, epilog=epilog(examples, {}), **kw)
    g.jibril_examples = tuple(examples)  # type: ignore[attr-defined]
    g.jibril_exits = dict(BASE_EXITS)  # type: ignore[attr-defined]
    main.add_command(g)
    return g


def adopt(cmd: click.Command, examples: Sequence[tuple[str, str]],
          exits: dict[int, str] | None = None) -> click.Command:
    """Give a command written with plain click its examples and exit codes in --help."""
    cmd.epilog = epilog(examples, exits)
    cmd.jibril_examples = tuple(examples)  # type: ignore[attr-defined]
    cmd.jibril_exits = {**BASE_EXITS, **(exits or {})}  # type: ignore[attr-defined]
    return cmd


