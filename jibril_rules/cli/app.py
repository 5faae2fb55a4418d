"""The one click group every `jibril` command registers on, and the helpers they share.

Thin: each command calls one module and turns JibrilError into located messages + exit codes
(0 clean, 1 findings/errors, 2 usage).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import click

from .. import __version__
from ..core.errors import Diagnostic, JibrilError

_STYLE = re.compile(r"^(\S.*?:\d+:\d+: )(error|warning)( JR\d+:)", re.M)


def colour_diagnostics(text: str) -> str:
    """Lint's human text with the place bold and the severity red/yellow (click strips the
    styles when the stream is no terminal, or NO_COLOR / --no-color is set)."""
    def sub(m: re.Match[str]) -> str:
        sev = m.group(2)
        return (click.style(m.group(1), bold=True)
                + click.style(sev, fg="red" if sev == "error" else "yellow", bold=True) + m.group(3))
    return _STYLE.sub(sub, text)


def print_diags(diags: list[Diagnostic], sources: dict[str, Any] | None = None) -> None:
    from ..core.report import format_human
    click.echo(colour_diagnostics(format_human(diags, sources or {})), err=True, nl=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except JibrilError as e:
        print_diags(e.diagnostics)
        sys.exit(1)


def fail(msg: str, code: int = 1) -> NoReturn:
    """One `error:` line on stderr and the exit code (1: inputs/environment, 2: usage)."""
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


def write_or_fail(path: str, what: str, write: Callable[[], object]) -> None:
    """Run `write()`; an unwritable path is a message naming it, not a traceback."""
    try:
        write()
    except OSError as e:
        fail(f"cannot write {what} {path}: {e.strerror or e}; check that the folder exists and is writable")


def printers_or_fail(cfg: Any, fmt: str, outputs: tuple[str, ...]) -> list[Any]:
    """The printers `run`/`replay` print to (config `printers:`, --format, --output), opened."""
    try:
        specs = cfg.printer_specs(fmt, outputs)
    except ValueError as e:
        fail(str(e), 2)
    return open_printers(specs)


def open_printers(specs: list[Any], metrics: Any | None = None) -> list[Any]:
    """make_printers, with a file that cannot be opened a message instead of a traceback."""
    from ..runtime.printers import make_printers
    try:
        return make_printers(specs, metrics=metrics)
    except OSError as e:
        fail(f"cannot write printer output {getattr(e, 'filename', '')}: {e.strerror or e}; "
             "check that the folder exists and is writable")
    except ValueError as e:
        fail(str(e), 2)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "JIBRIL",
                               "show_default": True, "max_content_width": 100})
@click.version_option(__version__, prog_name="jibril")
def main() -> None:
    """Runtime security: alchemy recipes -> in-kernel filters + decision tree + reactions.

    Every command has examples and its exit codes in `jibril COMMAND --help`; the full
    reference is docs/cli.md. Options can be given as environment variables
    (JIBRIL_<COMMAND>_<OPTION>, e.g. JIBRIL_LINT_FORMAT=sarif; JIBRIL_CONFIG for --config).
    """


def recipe_sources(given: Sequence[str], what: str = "recipes", cfg: Any = None) -> list[str]:
    """The paths given, else the configured recipe paths (built-ins + /etc/jibril/recipes) of
    `cfg` (default: the command's configuration), saying which on stderr (unless -q)."""
    from .conventions import fail, opts
    if given:
        return list(given)
    from ..recipepaths import configured
    o = opts()
    src = configured(cfg if cfg is not None else o.config())
    if not src.paths:
        fail(f"no {what} given and no recipe paths configured (recipes.builtin is false and "
             "recipes.paths is empty); pass a PATH", 2)
    o.note(f"{what}: {src.origin}")
    return list(src.paths)


def load_bundle(source: Sequence[str]) -> Any:
    from ..compiler.driver import load_any
    paths = recipe_sources(source)
    with user_errors():
        return load_any(paths)


EX_SOFTWARE = 70  # sysexits.h: an internal software error


def entry(argv: list[str] | None = None) -> None:
    """The console script: `main` with a last-resort handler.

    Every known failure has its own message; this catches only what we did not foresee, so
    it says so in one line (and how to get the traceback) instead of dumping one.
    """
    try:
        main.main(args=argv, prog_name="jibril")
    except BrokenPipeError:  # `jibril ... | head`: the reader left; say nothing
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - the last resort, by design
        if os.environ.get("JIBRIL_DEBUG"):
            raise
        text = (str(e).strip().splitlines() or [""])[0][:300]
        sys.stderr.write(f"jibril: internal error: {type(e).__name__}: {text}\n"
                         "  this is a bug in jibril-rules: please report it with the command line "
                         "(JIBRIL_DEBUG=1 shows the traceback)\n")
        sys.exit(EX_SOFTWARE)
