"""Agent configuration (jibril.yaml): printers and the reactions runtime settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import Collector, JibrilError
from .core.source import LMap, key_span, load_yaml, read_source, span_of

DEFAULT_NAMES = ("jibril.yaml",)


@dataclass(frozen=True)
class Config:
    printers: tuple[str, ...] = ("stdout",)
    reactions: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def netpolicy(self) -> bool:
        return bool(self.reactions.get("netpolicy", False))


def load_config(path: str | None) -> Config:
    """Load the given config, or ./jibril.yaml when present, else defaults."""
    if path is None:
        found = next((p for p in DEFAULT_NAMES if Path(p).is_file()), None)
        if found is None:
            return Config()
        path = found
    diags = Collector()
    src = read_source(path, diags)
    doc = load_yaml(src, diags) if src else None
    if doc is not None and not isinstance(doc, LMap):
        diags.add("JR021", "the configuration must be a mapping", span_of(doc), "see docs/config.md")
    if diags.errors:
        raise JibrilError(diags.errors)
    doc = doc or LMap()
    known = {"printers", "reactions"}
    for k in doc:
        if k not in known:
            diags.add("JR020", f"unknown configuration key '{k}'", doc.key_spans[k],
                      "valid keys: printers, reactions")
    printers = doc.get("printers", ["stdout"])
    if not isinstance(printers, list) or not all(isinstance(p, str) for p in printers):
        diags.add("JR021", "'printers' must be a list of strings", span_of(doc, "printers"),
                  "e.g. printers: [stdout, jsonl:/var/log/jibril.jsonl]")
    reactions = doc.get("reactions") or {}
    if not isinstance(reactions, dict):
        diags.add("JR021", "'reactions' must be a mapping", span_of(doc, "reactions"),
                  "e.g. reactions: {mode: monitor, netpolicy: true}")
    else:
        _check_reactions(reactions, diags)
    if diags.errors:
        raise JibrilError(diags.errors)
    return Config(tuple(printers), dict(reactions), path)


def _check_reactions(r: dict[str, Any], diags: Collector) -> None:
    """Every key known and the whole section accepted by ReactionConfig, with spans."""
    import dataclasses
    import difflib

    from .reactions import ReactionConfig
    known = [f.name for f in dataclasses.fields(ReactionConfig)]
    for k in r:
        if str(k).replace("-", "_") not in known:
            near = difflib.get_close_matches(str(k).replace("-", "_"), known, n=1)
            diags.add("JR020", f"unknown reactions option '{k}'", key_span(r, str(k)),
                      f"did you mean '{near[0]}'?" if near else "see docs/config.md")
    if diags.errors:
        return
    try:
        ReactionConfig.from_dict(dict(r))
    except (ValueError, TypeError) as e:
        diags.add("JR022", f"invalid reactions settings: {e}", span_of(r),
                  "see docs/config.md for the allowed values")
