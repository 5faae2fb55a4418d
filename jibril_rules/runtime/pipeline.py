"""The one event path: event -> engine -> printers -> reactions.

Used by `jibril replay` (cli/replay.py), the live agent (sensor/agent.py) and `jibril test`
(tools/testrunner.py); they differ only in how reactions run: the agent submits them to the
workers and moves on, replay and the test runner wait for each reaction's records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .dispatch import reaction_call
from .engine import Detection, Engine
from .printers import Printer

if TYPE_CHECKING:
    from ..reactions import ExecutionRecord, ReactionRuntime

OnRecords = Callable[[Detection, "Sequence[ExecutionRecord]"], None]


class Watcher(Protocol):
    """Who else sees the event path (observe.Observer: metrics, status page)."""

    def on_detection(self, d: Detection) -> None: ...
    def on_refused(self, recipe: str, reactions: int) -> None: ...


def reaction_runtime(settings: Mapping[str, Any], mode: str | None = None) -> ReactionRuntime:
    """The reactions runtime from the `reactions:` settings; `mode` (monitor | enforce), when
    given, overrides the configured one (--dry-run, --enforce)."""
    from ..reactions import ReactionConfig, ReactionRuntime
    raw = dict(settings)
    if mode:
        raw["mode"] = mode
    return ReactionRuntime(ReactionConfig.from_dict(raw))


class Pipeline:
    """Feeds events through one engine to its printers and reactions.

    `on_records` given: reactions run now and their records go to it (replay, tests);
    otherwise they are submitted to the runtime's workers (the agent). `watcher` sees every
    detection before the printers, and every submission the runtime refused.
    """

    def __init__(self, engine: Engine, printers: Iterable[Printer] = (),
                 runtime: ReactionRuntime | None = None, on_records: OnRecords | None = None,
                 watcher: Watcher | None = None) -> None:
        self.engine = engine
        self.printers = list(printers)
        self.runtime = runtime
        self.on_records = on_records
        self.watcher = watcher
        self.matches = 0
        self.reaction_rejects = 0  # submissions the runtime refused (queue full, closed)

    def feed(self, event: dict[str, Any], normalized: bool = False) -> list[Detection]:
        dets = self.engine.process(event, normalized=normalized)
        for d in dets:
            self.matches += 1
            if self.watcher is not None:
                self.watcher.on_detection(d)
            for p in self.printers:
                p.emit(d)
            if self.runtime is not None and d.reactions:
                self._react(self.runtime, d)
        return dets

    def _react(self, runtime: ReactionRuntime, d: Detection) -> None:
        ref, specs = reaction_call(d.recipe)
        if self.on_records is not None:
            self.on_records(d, runtime.run_now(ref, specs, d.event))
        elif not runtime.submit(ref, specs, d.event):
            self.reaction_rejects += 1
            if self.watcher is not None:
                self.watcher.on_refused(d.recipe_name, len(specs))

    def warm(self) -> None:
        """Compile every reaction before the first event, so the first kill pays no cold start."""
        if self.runtime is None:
            return
        for r in self.engine.bundle.recipes:
            if r.reactions:
                self.runtime.warm(*reaction_call(r))

    def close(self) -> None:
        for p in self.printers:
            p.close()
        if self.runtime is not None:
            self.runtime.close()
