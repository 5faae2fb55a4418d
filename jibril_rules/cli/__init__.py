"""The `jibril` command: one click group (app.py); each command group is its own module here.

Every module of this package is imported once, so a new command is a new file that registers
on `app.main` (e.g. `cli/fleet.py` with `@main.command()`); nothing shared needs an edit.
An import error in a command module is a bug and surfaces as one, never a silently missing command.
"""

from __future__ import annotations

import importlib
import pkgutil

from .app import entry, main

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m not in ("app", "__main__"):
        importlib.import_module(f"{__name__}.{_m}")

__all__ = ["entry", "main"]
