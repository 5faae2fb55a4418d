"""Collect-all across structure: the well-formed parts of an entry that failed its schema.

A recipe with a missing `mechanism` or a bad `importance` is not compiled, but its `when:`,
exceptions, arbitrary values and reaction code are still worth checking in the same lint
run. `salvage` returns a copy of the entry with each broken part removed (the smallest part
that makes the schema pass: a key of a list item, the item, then the top-level key) and
placeholders for missing required keys; the copy is checked but never compiled.
"""

from __future__ import annotations

from typing import Any

from cerberus import errors as cerr

from ..core.source import LList, LMap
from .schema import entry_type, schema_errors

# Required keys filled in so the rest can be lowered; they never reach a bundle.
_PLACEHOLDERS = {"kind": "invalid", "name": "invalid_recipe", "mechanism": "file_access"}
_NET_KEYS = ("remote_domains", "local_domains", "remote_cidrs", "local_cidrs", "protocol",
             "local_port", "remote_port", "flow_actions", "flow_actions_excl")
MAX_ROUNDS = 6


class Salvaged(LMap):
    """The checkable rest of a broken entry (its type marks it: never compiled)."""


def copy_node(v: Any, root: bool = False) -> Any:
    """A deep copy of located YAML values that keeps every span."""
    if isinstance(v, LMap):
        m = (Salvaged if root else LMap)({k: copy_node(x) for k, x in v.items()})
        m.span, m.key_spans = v.span, dict(v.key_spans)
        m.value_spans, m.value_styles = dict(v.value_spans), dict(v.value_styles)
        return m
    if isinstance(v, LList):
        lst = LList(copy_node(x) for x in v)
        lst.span, lst.item_spans = v.span, list(v.item_spans)
        return lst
    return v


def _delete(root: LMap, path: tuple[Any, ...]) -> bool:
    """Remove the value at `path` (a key or a list item); False when it is not there."""
    node: Any = root
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1] if path else None
    if isinstance(node, LMap) and isinstance(last, str) and last in node:
        del node[last]
        return True
    if isinstance(node, LList) and isinstance(last, int) and 0 <= last < len(node):
        del node[last]
        del node.item_spans[last]
        return True
    return False


def salvage(entry: LMap) -> LMap | None:
    """The checkable rest of a structurally invalid entry, or None when nothing is left."""
    kind = entry_type(entry)
    e: Salvaged = copy_node(entry, root=True)
    for _ in range(MAX_ROUNDS):
        errs = schema_errors(e, kind)
        if not errs:
            return e
        # deepest first, and later list items before earlier ones, so indices stay valid
        for path, code in sorted(errs, key=lambda pc: (len(pc[0]), pc[0]), reverse=True):
            if not path:
                return None
            if code == cerr.REQUIRED_FIELD.code:
                if len(path) == 1:
                    if kind != "recipe" or path[0] not in _PLACEHOLDERS:
                        return None
                    e[path[0]] = _placeholder(e, path[0])
                else:
                    _delete(e, path[:-1]) or _delete(e, path[:1])
            elif code == cerr.UNKNOWN_FIELD.code and path[0] == "arbitrary" and len(path) == 5:
                _delete(e, path[:-1])  # a misspelt `pattern:`: the item means nothing without it
            elif not _delete(e, path):
                _delete(e, path[:1])
    return None


def _placeholder(e: LMap, key: str) -> str:
    if key == "mechanism" and any(k in e for k in _NET_KEYS):
        return "network_peers"
    return _PLACEHOLDERS[key]
