"""`-o KEY.SUB=VALUE` config overrides (Falco's `-o`), as a layer over the loaded jibril.yaml.

Each override becomes the same located document shape `load_yaml` gives a file (LMap/LList/LStr
with spans), merged over the file's document *before* validation, so an override is checked
by exactly the schema the file is, and every error names the override that caused it:
`<-o reactions.mode>:1:1: error JR022: ...`. VALUE is YAML: `true`, `5`, `[a, b]`, `"text"`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .core.errors import Collector, Span
from .core.source import LMap, SourceFile, load_yaml, split_lines

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")


class OverrideError(ValueError):
    """An override that is not KEY.SUB=VALUE (a usage error, exit 2)."""


def label(key: str) -> str:
    """The pseudo file name diagnostics of an override carry."""
    return f"<-o {key}>"


def parse_override(text: str, diags: Collector) -> LMap:
    """`a.b=VALUE` -> {a: {b: VALUE}} with spans naming the override."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.fullmatch(key):
        raise OverrideError(f"-o expects KEY.SUB=VALUE (e.g. -o reactions.mode=enforce), got {text!r}")
    where = label(key)
    src = SourceFile(where, value, split_lines(value))
    parsed: Any = load_yaml(src, diags) if value.strip() else None
    parts = key.split(".")
    node: Any = parsed
    for i in range(len(parts) - 1, -1, -1):
        m = LMap()
        m[parts[i]] = node
        m.span = Span(where, 1, 1)
        m.key_spans = {parts[i]: Span(where, 1, 1)}
        m.value_spans = {parts[i]: getattr(node, "span", Span(where, 1, 1))}
        m.value_styles = {parts[i]: getattr(node, "style", None)}
        node = m
    return node  # type: ignore[no-any-return]


def merge(base: Any, layer: LMap) -> LMap:
    """`layer` over `base`: mappings merge key by key, anything else is replaced."""
    out = LMap()
    if isinstance(base, LMap):
        out.update(base)
        out.span = base.span
        out.key_spans = dict(base.key_spans)
        out.value_spans = dict(base.value_spans)
        out.value_styles = dict(base.value_styles)
    else:
        out.span = layer.span
        out.key_spans, out.value_spans, out.value_styles = {}, {}, {}
    for k, v in layer.items():
        if isinstance(v, LMap) and isinstance(out.get(k), LMap):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
            out.key_spans[k] = layer.key_spans[k]
            out.value_spans[k] = layer.value_spans[k]
            out.value_styles[k] = layer.value_styles.get(k)
    return out


def apply_overrides(doc: Any, overrides: Sequence[str], diags: Collector) -> Any:
    """The document with every override merged in, in order (later ones win)."""
    for text in overrides:
        layer = parse_override(text, diags)
        doc = merge(doc, layer)
    return doc
