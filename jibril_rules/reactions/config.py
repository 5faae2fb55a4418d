"""Configuration and input types of the reactions runtime."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("monitor", "enforce")
FORMATS = ("js", "shell")


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

    def __post_init__(self) -> None:
        self._check_types()
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (monitor or enforce)")
        for name in ("timeout_ms", "memory_mb", "workers", "queue_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
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
