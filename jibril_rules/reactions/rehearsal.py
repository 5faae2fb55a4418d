"""Rehearsals: how `jibril replay` and `jibril test` run reactions without touching the host.

Recorded pids are stale by nature and a test's events are invented, so these commands never
act: every run is in monitor mode whatever the config, the recipe or a flag says (helpers
with side effects are checked and recorded with `dry_run: true`, not done), shell reactions
are not executed, and the data store, temp dirs and audit trail live in a scratch folder
that is removed afterwards. The live store is only ever touched by `jibril run` -- and so is a
shared Redis store (`reactions.store: redis://...`, store_redis.py) that live agents on every
host read: a rehearsal always uses its scratch SQLite store alone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from .config import ReactionConfig
from .runtime import ReactionRuntime

NOTICE = ("notice: reactions are rehearsed (monitor mode, scratch data store): the enforce "
          "setting applies only to `jibril run`; nothing acts on this host")
SHARED_STORE_NOTICE = ("notice: the shared data store {url} is not used: reactions are rehearsed in "
                       "a scratch SQLite store; only `jibril run` reads and writes the shared store")


class Rehearsal:
    """A ReactionRuntime confined to a scratch folder; use as a context manager."""

    def __init__(self, settings: Mapping[str, Any], prefix: str = "jibril-rehearsal-") -> None:
        """`settings`: the `reactions:` mapping of jibril.yaml (a bare mapping)."""
        live = ReactionConfig.from_dict(settings)  # validates the user's settings as given
        self.enforce_requested = live.mode == "enforce"
        # the configured shared store (a Redis URL) that this rehearsal leaves alone, or ""
        self.shared_store_skipped = live.store if live.store not in ("", "sqlite") else ""
        self._scratch = tempfile.TemporaryDirectory(prefix=prefix)
        root = self._scratch.name
        # writes the live config allows stay allowed (so the rehearsal matches), but only the
        # scratch folder is ever written: anything outside it is a recorded dry run.
        roots = (os.path.realpath(root), *live.effective_writable_roots)
        cfg = live.replace(mode="monitor", state_dir=os.path.join(root, "state"),
                           temp_root=root, audit_path=os.path.join(root, "audit.jsonl"),
                           writable_roots=roots, store="")
        try:
            self.runtime = ReactionRuntime(cfg, rehearse=True)
        except BaseException:
            self._scratch.cleanup()
            raise
        self.scratch = root

    def close(self) -> None:
        try:
            self.runtime.close()
        finally:
            self._scratch.cleanup()

    def __enter__(self) -> ReactionRuntime:
        return self.runtime

    def __exit__(self, *exc: object) -> None:
        self.close()
