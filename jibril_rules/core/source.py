"""Load YAML with a span on every value, refusing hostile input (bombs, depth, size, bad UTF-8)."""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import yaml12
from .errors import Collector, Span

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


class LMap(dict[str, Any]):
    """A mapping that remembers where each key and value stood."""

    span: Span
    key_spans: dict[str, Span]
    value_spans: dict[str, Span]
    value_styles: dict[str, str | None]


class LList(list[Any]):
    """A list that remembers where each item stood."""

    span: Span
    item_spans: list[Span]


class LStr(str):
    """A string that remembers where it stood and its YAML scalar style."""

    span: Span
    style: str | None


_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def split_lines(text: str) -> tuple[str, ...]:
    """Lines as YAML counts them (CRLF, CR, LF, NEL, LS, PS)."""
    return tuple(_BREAK.split(text))


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str
    lines: tuple[str, ...]

    @functools.cached_property
    def line_starts(self) -> tuple[int, ...]:
        """Character offset of each line's start (1-based line N starts at [N - 1]).

        Line breaks are YAML's (CRLF, CR, LF, NEL, LS, PS), as in the parser's marks.
        """
        return (0, *(m.end() for m in _BREAK.finditer(self.text)))

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column), 1-based, of a character offset."""
        i = bisect.bisect_right(self.line_starts, offset) - 1
        i = max(i, 0)
        return i + 1, offset - (self.line_starts[i] if self.line_starts else 0) + 1

    def offset(self, line: int, col: int) -> int:
        starts = self.line_starts
        base = starts[line - 1] if 0 < line <= len(starts) else len(self.text)
        return base + col - 1


_LOADER = yaml.SafeLoader("")


class _Budget(Exception):
    def __init__(self, code: str, msg: str, span: Span) -> None:
        super().__init__(msg)
        self.code, self.msg, self.span = code, msg, span


def _span(path: str, node: yaml.Node) -> Span:
    return Span(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _scalar(path: str, node: yaml.ScalarNode, diags: Collector | None = None) -> Any:
    tag = node.tag
    value: Any = node.value
    if tag == "tag:yaml.org,2002:str" or node.style in ("'", '"', "|", ">"):
        s = LStr(value)
        s.span, s.style = _span(path, node), node.style
        return s
    if not node.style:  # a plain scalar: typed by the YAML 1.2 core schema
        known, typed = yaml12.plain_value(tag, value)
        if known:
            if diags is not None and isinstance(typed, int) and yaml12.leading_zero(value):
                diags.warn("JR008", f"'{value}' is the decimal number {typed} (YAML 1.2); YAML 1.1 "
                           f"tools read it as the octal {int(value, 8) if set(value.lstrip('+-')) <= set('01234567') else typed}",
                           _span(path, node), f"write {typed}, 0o{value.lstrip('+-0') or '0'} for octal, "
                           f"or \"{value}\" for a string")
            return typed
    constructor = yaml.SafeLoader.yaml_constructors.get(tag)
    if constructor is None:
        s = LStr(value)
        s.span, s.style = _span(path, node), node.style
        return s
    try:
        return constructor(_LOADER, node)  # type: ignore[arg-type]
    except Exception:
        s = LStr(value)
        s.span, s.style = _span(path, node), node.style
        return s


class _Converter:
    def __init__(self, path: str, diags: Collector | None = None) -> None:
        self.path = path
        self.count = 0
        self.diags = diags

    def convert(self, node: yaml.Node, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Budget("JR003", f"more than {MAX_NODES} YAML nodes after alias expansion",
                          _span(self.path, node))
        if depth > MAX_DEPTH:
            raise _Budget("JR004", f"nesting deeper than {MAX_DEPTH} levels", _span(self.path, node))
        if isinstance(node, yaml.ScalarNode):
            return _scalar(self.path, node, self.diags)
        if isinstance(node, yaml.SequenceNode):
            out = LList()
            out.span, out.item_spans = _span(self.path, node), []
            for child in node.value:
                out.append(self.convert(child, depth + 1))
                out.item_spans.append(_span(self.path, child))
            return out
        assert isinstance(node, yaml.MappingNode)
        m = LMap()
        m.span, m.key_spans, m.value_spans, m.value_styles = _span(self.path, node), {}, {}, {}
        for knode, vnode in node.value:
            key = str(knode.value) if isinstance(knode, yaml.ScalarNode) else repr(knode)
            if key in m and self.diags is not None:
                first = m.key_spans[key]
                self.diags.add("JR007", f"duplicate key '{key}' (first at line {first.line}, "
                               f"column {first.col})", _span(self.path, knode),
                               "remove one of them: YAML keeps only the last, silently")
            m[key] = self.convert(vnode, depth + 1)
            m.key_spans[key] = _span(self.path, knode)
            m.value_spans[key] = _span(self.path, vnode)
            m.value_styles[key] = vnode.style if isinstance(vnode, yaml.ScalarNode) else None
        return m


def _expanded_size(root: yaml.Node) -> yaml.Node | None:
    """The node whose alias expansion exceeds MAX_NODES, counted over shared nodes once."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        kids: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [n for kv in node.value for n in kv]
        if not done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(k), 1) for k in kids)
        sizes[id(node)] = total
        if total > MAX_NODES:
            return node
    return None


STDIN = "-"
STDIN_NAME = "<stdin>"
_stdin_cache: list[bytes] = []


def stdin_bytes() -> bytes:
    """Standard input, read once (several readers of `-` see the same text)."""
    import sys
    if not _stdin_cache:
        _stdin_cache.append(sys.stdin.buffer.read(MAX_BYTES + 1))
    return _stdin_cache[0]


def read_source(path: str, diags: Collector) -> SourceFile | None:
    """Read a file (`-`: standard input, named <stdin>) as UTF-8 text, or add a located
    diagnostic and return None."""
    p = Path(path)
    try:
        if path == STDIN:
            path = STDIN_NAME
            raw = stdin_bytes()
            size = len(raw)
        else:
            size = p.stat().st_size
        if size > MAX_BYTES:
            diags.add("JR002", f"file is {size} bytes; the limit is {MAX_BYTES}", Span(path),
                      "split the recipes over several files")
            return None
        if path != STDIN_NAME:
            raw = p.read_bytes()
    except OSError as e:
        diags.add("JR006", f"cannot read file: {e.strerror}", Span(path), "check the path and permissions")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        diags.add("JR005", f"invalid UTF-8 byte 0x{raw[e.start]:02x}", Span(path, line, col),
                  "save the file as UTF-8")
        return None
    return SourceFile(path, text, split_lines(text))


_FAST_LOADER = yaml12.Loader  # libyaml, YAML 1.2 core-schema scalars
GUARD_DEPTH = 200


def depth_guard(text: str) -> tuple[int, int] | None:
    """Where the text may nest deeper than GUARD_DEPTH, found without parsing.

    libyaml recurses in C (a deep document crashes the process) and is slow on deep flow
    nesting, so a cheap bound on flow brackets, indentation and '- ' runs comes first.
    """
    flow = 0
    for no, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        dashes = 0
        while stripped.startswith("- ") or stripped == "-":
            dashes += 1
            stripped = stripped[2:].lstrip(" ")
        if indent + dashes > GUARD_DEPTH:
            return no, 1
        quote = ""
        for col, ch in enumerate(line, 1):
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "\"'" and flow:
                quote = ch
            elif ch == "#" and (col == 1 or line[col - 2] in " \t"):
                break
            elif ch in "[{":
                flow += 1
                if flow > GUARD_DEPTH:
                    return no, col
            elif ch in "]}":
                flow = max(flow - 1, 0)
    return None


def load_yaml(src: SourceFile, diags: Collector) -> Any:
    """Parse YAML into LMap/LList/LStr values, with every failure a located diagnostic."""
    deep = depth_guard(src.text)
    if deep is not None:
        diags.add("JR004", f"nesting deeper than {GUARD_DEPTH} levels", Span(src.path, *deep),
                  "flatten the document")
        return None
    try:
        node = yaml.compose(src.text, Loader=_FAST_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        span = Span(src.path, mark.line + 1, mark.column + 1) if mark else Span(src.path)
        diags.add("JR001", f"YAML syntax error: {e.problem or e.context}", span,
                  "fix the indentation or quoting at this place")
        return None
    except RecursionError:
        diags.add("JR004", "nesting too deep to parse", Span(src.path), "flatten the document")
        return None
    except yaml.reader.ReaderError as e:
        before = src.text[: e.position]
        line, col = before.count("\n") + 1, e.position - (before.rfind("\n") + 1) + 1
        what = f"character {e.character!r}" if isinstance(e.character, str) else "byte"
        diags.add("JR001", f"{what} is not allowed in YAML", Span(src.path, line, col),
                  "remove the control character")
        return None
    except yaml.YAMLError as e:
        diags.add("JR001", f"YAML error: {e}", Span(src.path), "fix the YAML syntax")
        return None
    if node is None:
        return None
    big = _expanded_size(node)
    if big is not None:
        diags.add("JR003", f"more than {MAX_NODES} YAML nodes after alias expansion",
                  _span(src.path, big), "remove YAML anchors/aliases")
        return None
    try:
        return _Converter(src.path, diags).convert(node)
    except _Budget as b:
        hint = "remove YAML anchors/aliases" if b.code == "JR003" else "flatten the document"
        diags.add(b.code, b.msg, b.span, hint)
        return None
    except RecursionError:
        diags.add("JR004", "nesting too deep", Span(src.path), "flatten the document")
        return None


def span_of(container: Any, key: str | int | None = None, fallback: Span | None = None) -> Span:
    """Best span for a value inside a container (the key's value, the item, or the container)."""
    if isinstance(container, LMap) and isinstance(key, str) and key in container.value_spans:
        return container.value_spans[key]
    if isinstance(container, LList) and isinstance(key, int) and key < len(container.item_spans):
        return container.item_spans[key]
    if hasattr(container, "span"):
        return container.span  # type: ignore[no-any-return]
    return fallback or Span("<input>")


def key_span(container: Any, key: str) -> Span:
    if isinstance(container, LMap) and key in container.key_spans:
        return container.key_spans[key]
    return span_of(container)
