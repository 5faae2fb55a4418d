"""The one click group every `jibril` command registers on, and the helpers they share.

Thin: each command calls one module and turns JibrilError into located messages + exit codes
(0 clean, 1 findings/errors, 2 usage).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from .. import __version__
from ..core.errors import Diagnostic, JibrilError


def print_diags(diags: list[Diagnostic], sources: dict[str, Any] | None = None) -> None:
    from ..core.report import format_human
    sys.stderr.write(format_human(diags, sources or {}))


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except JibrilError as e:
        print_diags(e.diagnostics)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jibril")
def main() -> None:
    """Runtime security: alchemy recipes -> in-kernel filters + decision tree + reactions."""


def load_bundle(source: tuple[str, ...]) -> Any:
    from ..compiler.driver import load_any
    with user_errors():
        return load_any(list(source) or ["alchemies"])
