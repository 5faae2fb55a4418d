"""Configuration and input types of the reactions runtime."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.vocab import MAX_REACTION_MEMORY_MB, MAX_REACTION_TIMEOUT_MS, MODES

FORMATS = ("js", "shell")
KIB, MIB = 1024, 1024 * 1024
# (lowest, highest) accepted value of each bounded setting; the defaults are the fields'.
BOUNDS: dict[str, tuple[float, float]] = {
    "timeout_ms": (1, MAX_REACTION_TIMEOUT_MS),
    "memory_mb": (1, MAX_REACTION_MEMORY_MB),
    "max_timeout_ms": (1, MAX_REACTION_TIMEOUT_MS),
    "max_memory_mb": (4, MAX_REACTION_MEMORY_MB),
    "drain_s": (0, 300),
    "max_value_bytes": (1 * KIB, 64 * MIB),
    "max_list_items": (1, 10_000_000),
    "max_log_bytes": (1 * KIB, 64 * MIB),
    "max_log_lines": (1, 100_000),
    "max_audit_line_bytes": (4 * KIB, 64 * MIB),
}


@dataclass(frozen=True)
class ReactionSpec:
    """One reaction of a recipe: `format` is "js" or "shell"; `index` its position."""

    format: str
    code: str
    index: int = 0

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown reaction format {self.format!r} (js or shell)")


@dataclass(frozen=True)
class RecipeRef:
    """The recipe whose reactions run, with optional per-recipe overrides."""

    kind: str
    name: str
    mode: str | None = None
    timeout_ms: int | None = None
    memory_mb: int | None = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (monitor or enforce)")


def _default_state_dir() -> str:
    return os.environ.get("JIBRIL_RULES_STATE", "/var/lib/jibril-rules")


@dataclass(frozen=True)
class ReactionConfig:
    """Runtime configuration (see docs/reactions.md for every field)."""

    mode: str = "monitor"
    state_dir: str = field(default_factory=_default_state_dir)
    temp_root: str = "/tmp"
    audit_path: str | None = None
    timeout_ms: int = 2000
    memory_mb: int = 64
    workers: int = 4
    queue_size: int = 1024
    min_pid: int = 500
    protected_pids: tuple[int, ...] = ()
    protected_names: tuple[str, ...] = ()
    allow_poweroff: bool = False
    allow_panic: bool = False
    netpolicy: bool = False  # like Jibril: the network policy must be enabled explicitly
    net_table: str = "jibril_rules"
    net_netns: str | None = None
    net_allowlist: tuple[str, ...] = ()
    writable_roots: tuple[str, ...] = ()
    rate_limit: int = 0
    rate_window_s: float = 1.0
    dedup_window_s: float = 0.0
    shared_namespace: str = "shared"
    shell_path: str = "/bin/sh"
    log_to_python: bool = True
    # -- fleet (issue 10): the Data* store shared by hosts (store_redis.py) --
    store: str = ""  # "" / "sqlite": embedded only; redis://HOST:PORT/DB: shared: keys there
    store_recipe_keys: bool = False  # per-recipe keys to Redis too
    store_timeout_ms: int = 50  # bound of one Redis call
    # upper bounds of a recipe's own timeout_ms / memory_mb (larger values are clamped)
    max_timeout_ms: int = 60_000
    max_memory_mb: int = 1024
    drain_s: float = 5.0  # on stop, how long queued reactions may still run
    max_value_bytes: int = 1 * MIB  # one data-store value (DataSet, DataPush)
    max_list_items: int = 100_000  # items of one DataPush list
    max_log_bytes: int = 64 * KIB  # Info/Warn/Error text kept per execution
    max_log_lines: int = 2000  # log lines kept per execution
    max_audit_line_bytes: int = 256 * KIB  # one audit record

    def __post_init__(self) -> None:
        self._check_types()
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (monitor or enforce)")
        if self.store not in ("", "sqlite") and not self.store.startswith(
                ("redis://", "rediss://", "unix://")):
            raise ValueError(f"store must be sqlite or a redis://HOST:PORT/DB URL, not {self.store!r}")
        if not 1 <= self.store_timeout_ms <= 10000:
            raise ValueError("store_timeout_ms must be between 1 and 10000")
        for name in ("timeout_ms", "memory_mb", "workers", "queue_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name, (lo, hi) in BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, not {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo:g} and {hi:g} (got {value!r})")
        # Normalise list-valued fields given as lists (from YAML) into tuples.
        for name in ("protected_pids", "protected_names", "net_allowlist", "writable_roots"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    def _check_types(self) -> None:
        """Strict types, the last line behind jibril.yaml's schema: a string "false" is no
        boolean, a scalar is no list (it would become its characters), `true` is no number."""
        for f in dataclasses.fields(self):
            v, want = getattr(self, f.name), str(f.type).replace(" ", "")
            if want.endswith("|None"):
                if v is None:
                    continue
                want = want[: -len("|None")]
            ok = {"bool": isinstance(v, bool),
                  "int": isinstance(v, int) and not isinstance(v, bool),
                  "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                  "str": isinstance(v, str)}.get(want, True)
            if want.startswith("tuple[") and isinstance(v, (str, bytes, Mapping)):
                ok = False
            if not ok:
                what = "a list" if want.startswith("tuple[") else want
                raise TypeError(f"reactions option {f.name} must be {what}, not {v!r}")

    @property
    def effective_writable_roots(self) -> tuple[str, ...]:
        roots = self.writable_roots or (self.temp_root,)
        return tuple(os.path.realpath(r) for r in roots)

    @property
    def datastore_path(self) -> str:
        return str(Path(self.state_dir) / "reactions.sqlite")

    def replace(self, **changes: Any) -> ReactionConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ReactionConfig:
        """Build from a mapping; accepts the keys under `reactions:` or the bare mapping."""
        if "reactions" in raw and isinstance(raw["reactions"], Mapping):
            raw = raw["reactions"]
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ValueError(f"unknown reactions option {key!r}")
            kwargs[name] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ReactionConfig:
        import yaml

        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"{path}: expected a mapping")
        return cls.from_dict(raw)
