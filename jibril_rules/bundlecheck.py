"""The shape of a bundle body, checked before decoding: a malformed body is one located
message naming the part (`recipes[3].cond`), never a traceback from deep in the decoder.

The hash proves the body is what some writer produced, not that the writer was this
jibril: a hand-made or foreign body with a valid hash must still be refused cleanly.
"""

from __future__ import annotations

import json
from typing import Any

from .core.confschema import describe_value
from .core.fields import FIELDS
from .core.ops import Op

_OPS = frozenset(o.value for o in Op)

# (key, type, what) of every recipe entry; the decoder reads more, and fails cleanly on it.
_RECIPE_KEYS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("index", int, "a number"), ("name", str, "a string"), ("kind", str, "a string"),
    ("mechanism", str, "a string"), ("meta", dict, "a mapping"), ("times", list, "a list"),
    ("reactions", list, "a list"), ("span", list, "a list"), ("condition", str, "a string"),
    ("hash", str, "a string"), ("cond", (list, dict, str, bool), "a condition"),
    ("exceptions", list, "a list"),
)
_BODY_KEYS: tuple[tuple[str, type, str], ...] = (
    ("recipes", list, "a list"), ("atoms", list, "a list"), ("tables", dict, "a mapping"),
    ("tree", dict, "a mapping"),
)


def body_problem(body: dict[str, Any], allow_empty: bool = False) -> str | None:
    """What is wrong with the body's shape, in words, or None."""
    for key, typ, what in _BODY_KEYS:
        if key not in body:
            return f"'{key}' is missing"
        if not isinstance(body[key], typ):
            return f"'{key}' must be {what}, not {describe_value(body[key])}"
    recipes = body["recipes"]
    if not recipes and not allow_empty:
        return "it has no recipes"
    atoms = body["atoms"]
    for i, a in enumerate(atoms):
        if not (isinstance(a, list) and len(a) == 3 and isinstance(a[0], str) and a[0] in FIELDS
                and a[1] in _OPS):
            return f"atoms[{i}] is not a known (field, operator, value) predicate"
    for i, r in enumerate(recipes):
        if not isinstance(r, dict):
            return f"recipes[{i}] must be a mapping, not {describe_value(r)}"
        label = f"recipes[{i}]" + (f" ({r['name']})" if isinstance(r.get("name"), str) else "")
        for key, rtyp, what in _RECIPE_KEYS:
            if key not in r:
                return f"{label}: '{key}' is missing"
            v = r[key]
            if isinstance(v, bool) and rtyp is int or not isinstance(v, rtyp):
                return f"{label}: '{key}' must be {what}, not {describe_value(v)}"
        trees = [("cond", r["cond"])] + [(f"exceptions[{k}]", x[1] if isinstance(x, list) and len(x) == 2 else None)
                                         for k, x in enumerate(r["exceptions"])]
        for where, tree in trees:
            bad = _tree_problem(tree, len(atoms))
            if bad:
                return f"{label}: '{where}' {bad}"
    return None


MAX_TREE_NODES = 1_000_000


def _tree_problem(tree: Any, n_atoms: int) -> str | None:
    """A condition tree: ["T"], ["F"], ["a"|"n", atom index], ["&"|"|", [trees]] (no recursion)."""
    stack, seen = [tree], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_TREE_NODES:
            return "is too large"
        if not isinstance(node, list) or not node or not isinstance(node[0], str):
            return f"has a node that is not a condition: {describe_value(node)}"
        tag = node[0]
        if tag in ("T", "F") and len(node) == 1:
            continue
        if tag in ("a", "n") and len(node) == 2:
            idx = node[1]
            if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < n_atoms:
                return f"refers to predicate {json.dumps(idx)}, which is not in 'atoms'"
            continue
        if tag in ("&", "|") and len(node) == 2 and isinstance(node[1], list):
            stack.extend(node[1])
            continue
        return f"has an unknown condition node {json.dumps(tag)}"
    return None
