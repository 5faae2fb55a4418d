"""Event -> kernel-filter model -> decision tree -> times caps -> detections."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bundle import Bundle, CompiledRecipe
from ..core.fields import FIELDS
from ..core.reaction import Reaction
from .aggregate import FileAggregator
from .events import detection, normalize
from .kernel_model import KernelModel
from .tree import Tree


@dataclass(frozen=True)
class Detection:
    recipe: CompiledRecipe
    event: dict[str, Any]  # the Jibril detection object (`data` in reactions)

    @property
    def recipe_name(self) -> str:
        return self.recipe.name

    @property
    def reactions(self) -> tuple[Reaction, ...]:
        return self.recipe.reactions


@dataclass
class Stats:
    events: int = 0
    kernel_dropped: int = 0
    matched: int = 0
    excepted: int = 0
    capped: int = 0
    aggregated: int = 0  # repeats of a (recipe, process, file) report within the window
    per_recipe: dict[str, int] = field(default_factory=dict)


_TIMES_KEY: dict[str, Callable[[Callable[[str], Any], dict[str, Any]], Any]] = {
    "times_per_exe": lambda g, e: g("process.exe"),
    "times_per_parent_exe": lambda g, e: g("parent.exe"),
    "times_per_cmd": lambda g, e: g("process.cmd"),
    "times_per_proc": lambda g, e: (g("process.pid"), (e.get("process") or {}).get("start")),
    "times_per_parent_proc": lambda g, e: g("process.ppid"),
    "times_in_total": lambda g, e: None,
    "times_per_full_ancestry": lambda g, e: tuple(g("ancestry[*].exe") or ()),
}


class _Values(dict[str, Any]):
    """Field values of one event, extracted on first use (dict lookups stay in C)."""

    __slots__ = ("ev",)

    def __init__(self, ev: dict[str, Any]) -> None:
        super().__init__()
        self.ev = ev

    def __missing__(self, name: str) -> Any:
        v = self[name] = FIELDS[name].extract(self.ev)
        return v


def getter(ev: dict[str, Any]) -> Callable[[str], Any]:
    """Lazy, cached field extraction for one event."""
    return _Values(ev).__getitem__


class Engine:
    """`aggregate_s` > 0 gathers per-syscall file actions (live events); see aggregate.py."""

    def __init__(self, bundle: Bundle, kernel_model: bool = True, aggregate_s: float = 0.0) -> None:
        self.stats = Stats()
        self._use_kernel = kernel_model
        self._agg = FileAggregator(aggregate_s) if aggregate_s > 0 else None
        self._counts: dict[tuple[int, str, Any], int] = {}
        self.load(bundle)

    def load(self, bundle: Bundle) -> None:
        self.bundle = bundle
        recs = [r.ir for r in bundle.recipes]
        self.tree = Tree(bundle.tree, recs, list(bundle.atoms))
        self.kernel = KernelModel(bundle.tables)

    def reload(self, bundle: Bundle) -> None:
        """Swap the bundle; times-cap counters of recipes whose hash is unchanged survive."""
        keep = {r.hash for r in bundle.recipes}
        old = {r.index: r.hash for r in self.bundle.recipes}
        new_index = {r.hash: r.index for r in bundle.recipes}
        self._counts = {(new_index[old[i]], k, v): c for (i, k, v), c in self._counts.items()
                        if old.get(i) in keep}
        if self._agg is not None:
            self._agg.forget_reports()
        self.load(bundle)

    def process(self, raw: dict[str, Any], normalized: bool = False) -> list[Detection]:
        ev = raw if normalized else normalize(raw)
        self.stats.events += 1
        now = 0.0
        if self._agg is not None:  # the clock is read only when aggregating
            now = time.monotonic()
            ev = self._agg.merge(ev, now)
        if self._use_kernel and not self.kernel.passes(ev):
            self.stats.kernel_dropped += 1
            return []
        get = getter(ev)
        out: list[Detection] = []
        for idx, exc in self.tree.match(ev["mechanism"], get):
            if exc is not None:
                self.stats.excepted += 1
                continue
            r = self.bundle.recipes[idx]
            if self._agg is not None and not self._agg.first_report(idx, ev, now):
                self.stats.aggregated += 1
                continue
            if r.times and not self._allow(r, get, ev):
                self.stats.capped += 1
                continue
            self.stats.matched += 1
            self.stats.per_recipe[r.name] = self.stats.per_recipe.get(r.name, 0) + 1
            out.append(Detection(r, detection(ev, _meta(r))))
        return out

    def _allow(self, r: CompiledRecipe, get: Callable[[str], Any], ev: dict[str, Any]) -> bool:
        keys = [(r.index, kind, _TIMES_KEY[kind](get, ev), mx) for kind, mx in r.times]
        if any(self._counts.get(k[:3], 0) >= k[3] for k in keys):
            return False
        for k in keys:
            self._counts[k[:3]] = self._counts.get(k[:3], 0) + 1
        return True


def _meta(r: CompiledRecipe) -> dict[str, Any]:
    # format: the detection's event format, which Jibril's output spells as the mechanism
    m = {"kind": r.kind, "name": r.name, "format": r.mechanism, "version": "", "description": "",
         "importance": "", "documentation": "", "tactic": "", "technique": "", "subtechnique": ""}
    m.update(r.meta)
    return m
