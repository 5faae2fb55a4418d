"""Agent configuration (jibril.yaml): printers and the reactions runtime settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import Collector, JibrilError
from .core.source import LMap, key_span, load_yaml, read_source, span_of

DEFAULT_NAMES = ("jibril.yaml",)
SYSTEM_CONFIG = "etc/jibril/jibril.yaml"  # below the root: / (or $JIBRIL_ROOT, for tests)


def find_config(root: str | None = None) -> str | None:
    """Search order: ./jibril.yaml, then ROOT/etc/jibril/jibril.yaml (what `service install` wrote)."""
    found = next((p for p in DEFAULT_NAMES if Path(p).is_file()), None)
    if found is not None:
        return found
    system = Path(root or os.environ.get("JIBRIL_ROOT") or "/") / SYSTEM_CONFIG
    return str(system) if system.is_file() else None


@dataclass(frozen=True)
class Config:
    printers: tuple[str, ...] = ("stdout",)
    reactions: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    # -- observability (issue 11): from / metrics / log, checked by observe/settings.py --
    observe: dict[str, Any] = field(default_factory=dict)

    @property
    def netpolicy(self) -> bool:
        return bool(self.reactions.get("netpolicy", False))


def load_config(path: str | None) -> Config:
    """Load the given config, else the first of find_config(), else defaults."""
    if path is None:
        found = find_config()
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
    from .observe import settings as obs
    known = {"printers", "reactions", *obs.TOP_KEYS}
    for k in doc:
        if k not in known:
            diags.add("JR020", f"unknown configuration key '{k}'", doc.key_spans[k],
                      f"valid keys: {', '.join(sorted(known))}")
    printers = doc.get("printers", ["stdout"])
    if not isinstance(printers, list) or not all(isinstance(p, str | dict) for p in printers):
        diags.add("JR021", "'printers' must be a list of strings", span_of(doc, "printers"),
                  "e.g. printers: [stdout, jsonl:/var/log/jibril.jsonl]")
    reactions = doc.get("reactions") or {}
    if not isinstance(reactions, dict):
        diags.add("JR021", "'reactions' must be a mapping", span_of(doc, "reactions"),
                  "e.g. reactions: {mode: monitor, netpolicy: true}")
    else:
        _check_reactions(reactions, diags)
    for where, msg, hint in obs.check(doc):
        _locate(doc, where, msg, hint, diags)
    if diags.errors:
        raise JibrilError(diags.errors)
    return Config(tuple(printers), dict(reactions), path,
                  {k: doc[k] for k in obs.TOP_KEYS if k in doc})


def _locate(doc: Any, where: tuple[str | int, ...], msg: str, hint: str, diags: Collector) -> None:
    """A problem found by observe/settings.py at a key path: JR020 for unknown keys."""
    node, parent, last = doc, doc, where[0]
    for k in where:
        parent, last = node, k
        nxt = node.get(k) if isinstance(node, dict) else (
            node[k] if isinstance(node, list) and isinstance(k, int) and k < len(node) else None)
        if nxt is None:
            break
        node = nxt
    code = "JR020" if msg.startswith("unknown") and "option" in msg else "JR021"
    span = key_span(parent, last) if isinstance(last, str) and code == "JR020" \
        else span_of(parent, last)
    diags.add(code, msg, span, hint)


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
