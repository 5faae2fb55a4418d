"""The one click group every `jibril` command registers on, and the helpers they share.

Thin: each command calls one module and turns JibrilError into located messages + exit codes
(0 clean, 1 findings/errors, 2 usage).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

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


class JibrilGroup(click.Group):
    """The top group: an unexpected exception is a one-line internal error, not a traceback
    (JIBRIL_DEBUG=1 shows it); click's own usage errors keep exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        import os
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # `jibril list ... | head`
            sys.stderr.close()
            sys.exit(0)
        except Exception as e:  # noqa: BLE001 - the last line of defence for the user
            if os.environ.get("JIBRIL_DEBUG"):
                raise
            click.echo(f"jibril: internal error: {type(e).__name__}: {e} (a bug: please report it; "
                       "JIBRIL_DEBUG=1 shows the traceback)", err=True)
            sys.exit(70)


@click.group(cls=JibrilGroup, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "JIBRIL",
                               "show_default": True, "max_content_width": 100})
@click.version_option(__version__, prog_name="jibril")
def main() -> None:
    """Runtime security: alchemy recipes -> in-kernel filters + decision tree + reactions.

    Every command has examples and its exit codes in `jibril COMMAND --help`; the full
    reference is docs/cli.md. Options can be given as environment variables
    (JIBRIL_<COMMAND>_<OPTION>, e.g. JIBRIL_LINT_FORMAT=sarif; JIBRIL_CONFIG for --config).
    """


def recipe_sources(given: Sequence[str], what: str = "recipes") -> list[str]:
    """The paths given, else the configured recipe paths (built-ins + /etc/jibril/recipes),
    saying which on stderr (unless -q)."""
    from .conventions import fail, opts
    if given:
        return list(given)
    from ..recipepaths import configured
    o = opts()
    src = configured(o.config())
    if not src.paths:
        fail(f"no {what} given and no recipe paths configured (recipes.builtin is false and "
             "recipes.paths is empty); pass a PATH")
    o.note(f"{what}: {src.origin}")
    return list(src.paths)


def load_bundle(source: Sequence[str]) -> Any:
    from ..compiler.driver import load_any
    paths = recipe_sources(source)
    with user_errors():
        return load_any(paths)
