"""Agent configuration (jibril.yaml): printers, the reactions runtime settings, recipe paths.

Lookup order (docs/cli.md): `--config FILE` (or $JIBRIL_CONFIG), else ./jibril.yaml, else
/etc/jibril/jibril.yaml (below $JIBRIL_ROOT when set, for tests), else the defaults. `-o KEY.SUB=VALUE` overrides (overrides.py) are
merged over the file before it is checked, so they are validated exactly like the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import Collector, JibrilError, Span
from .core.source import LMap, key_span, load_yaml, read_source, span_of

DEFAULT_NAMES = ("jibril.yaml",)
SYSTEM_CONFIG = "etc/jibril/jibril.yaml"  # below the root: / (or $JIBRIL_ROOT, for tests)
SEARCH = (*DEFAULT_NAMES, "/" + SYSTEM_CONFIG)
TOP_KEYS = ("printers", "reactions", "recipes")
RECIPE_KEYS = ("paths", "builtin")


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
    recipe_paths: tuple[str, ...] | None = None  # recipes.paths (None: /etc/jibril/recipes if any)
    builtin: bool = True  # recipes.builtin: also load the recipes shipped in the package
    origin: str = "no configuration file found; defaults"
    # -- observability (issue 11): from / metrics / log, checked by observe/settings.py --
    observe: dict[str, Any] = field(default_factory=dict)

    @property
    def netpolicy(self) -> bool:
        return bool(self.reactions.get("netpolicy", False))


def locate_config(path: str | None) -> tuple[str | None, str]:
    """The file to read and why: the given one, else find_config()."""
    if path:
        return path, f"configuration {path} (--config)"
    found = find_config()
    if found:
        return found, f"configuration {found} (found; lookup: --config, ./jibril.yaml, /{SYSTEM_CONFIG})"
    return None, f"no configuration file (looked for ./jibril.yaml, /{SYSTEM_CONFIG}); defaults"


def load_config(path: str | None = None, overrides: Sequence[str] = (), search: bool = True) -> Config:
    """Load the given config, else the first found (when `search`), else defaults; then overrides.

    Raises JibrilError (located diagnostics) for a bad file or override, and
    overrides.OverrideError for an override that is not KEY=VALUE.
    """
    from .overrides import apply_overrides
    found, origin = locate_config(path) if (path or search) else (None, "no configuration file; defaults")
    diags = Collector()
    doc = None
    if found is not None:
        src = read_source(found, diags)
        doc = load_yaml(src, diags) if src else None
        if doc is not None and not isinstance(doc, LMap):
            diags.add("JR021", "the configuration must be a mapping", span_of(doc), "see docs/config.md")
        if diags.errors:
            raise JibrilError(diags.errors)
    if overrides:
        doc = apply_overrides(doc, overrides, diags)
        origin += "; -o " + ", ".join(o.partition("=")[0] for o in overrides)
        if diags.errors:
            raise JibrilError(diags.errors)
    if not doc:
        doc = LMap()
        doc.span = Span(found or "<defaults>")
        doc.key_spans, doc.value_spans, doc.value_styles = {}, {}, {}
    import difflib

    from .observe import settings as obs
    known = (*TOP_KEYS, *obs.TOP_KEYS)
    for k in doc:
        if k not in known:
            near = difflib.get_close_matches(str(k), known, n=1)
            diags.add("JR020", f"unknown configuration key '{k}'", key_span(doc, str(k)),
                      f"did you mean '{near[0]}'?" if near else "valid keys: " + ", ".join(sorted(known)))
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
    recipe_paths, builtin = _check_recipes(doc.get("recipes"), span_of(doc, "recipes"), diags)
    for where, msg, hint in obs.check(doc):
        _locate(doc, where, msg, hint, diags)
    if diags.errors:
        raise JibrilError(diags.errors)
    return Config(tuple(printers), dict(reactions), found, recipe_paths, builtin, origin,
                  {k: doc[k] for k in obs.TOP_KEYS if k in doc})


def _check_recipes(r: Any, span: Any, diags: Collector) -> tuple[tuple[str, ...] | None, bool]:
    """recipes: {paths: [DIR, ...], builtin: true} (Jibril's alchemies path= and builtin=)."""
    import difflib
    if r is None:
        return None, True
    if not isinstance(r, dict):
        diags.add("JR021", "'recipes' must be a mapping", span,
                  "e.g. recipes: {paths: [/etc/jibril/recipes], builtin: true}")
        return None, True
    for k in r:
        if k not in RECIPE_KEYS:
            near = difflib.get_close_matches(str(k), RECIPE_KEYS, n=1)
            diags.add("JR020", f"unknown recipes option '{k}'", key_span(r, str(k)),
                      f"did you mean '{near[0]}'?" if near else "valid: paths, builtin")
    paths = r.get("paths")
    if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
        diags.add("JR021", "'recipes.paths' must be a list of files or folders", span_of(r, "paths"),
                  "e.g. paths: [/etc/jibril/recipes]")
        paths = None
    builtin = r.get("builtin", True)
    if not isinstance(builtin, bool):
        diags.add("JR021", "'recipes.builtin' must be true or false", span_of(r, "builtin"),
                  "write builtin: true (no quotes) or builtin: false")
        builtin = True
    return (tuple(str(p) for p in paths) if paths is not None else None), builtin


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
        culprit = None  # the key whose value alone is refused, to point at it
        for k, v in r.items():
            try:
                ReactionConfig.from_dict({k: v})
            except (ValueError, TypeError):
                culprit = str(k)
                break
        diags.add("JR022", f"invalid reactions settings: {e}",
                  span_of(r, culprit) if culprit else span_of(r),
                  "see docs/config.md for the allowed values")
