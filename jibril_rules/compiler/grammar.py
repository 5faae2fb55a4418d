"""Parse `when:` expressions with the LALR grammar in grammar/jibril.lark into the AST."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..core.errors import Collector, Span
from ..core.ops import Op
from . import ast as A

_PKG = Path(__file__).resolve().parent.parent  # jibril_rules/
_GRAMMAR_DIRS = (_PKG / "data" / "grammar", _PKG.parent / "grammar")

PosMap = Callable[[int, int], Span]  # (line, column) inside the expression -> file span


@functools.cache
def parser() -> Lark:
    for d in _GRAMMAR_DIRS:
        if (d / "jibril.lark").is_file():
            return Lark.open(str(d / "jibril.lark"), parser="lalr", propagate_positions=True,
                             maybe_placeholders=False)
    raise FileNotFoundError("grammar/jibril.lark is missing from the installation")


def _unquote(tok: str) -> str:
    """JSON escapes in either quote style; \\' and \\" are the quotes themselves."""
    body = tok[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] in "'\"":
            out.append("\\\"" if body[i + 1] == '"' else "'")
            i += 2
            continue
        out.append('\\"' if c == '"' else c)
        if c == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 1
        i += 1
    try:
        return str(json.loads('"' + "".join(out) + '"'))
    except json.JSONDecodeError:
        return body


class _ToAst(Transformer[Token, A.Node]):
    def __init__(self, pos: PosMap) -> None:
        super().__init__()
        self.pos = pos

    def _span(self, tok: Any) -> Span:
        return self.pos(getattr(tok, "line", 1) or 1, getattr(tok, "column", 1) or 1)

    def start(self, items: list[A.Node]) -> A.Node:
        return items[0]

    def or_(self, items: list[A.Node]) -> A.Node:
        return items[0] if len(items) == 1 else A.Or(tuple(items), _node_span(items[0]))

    def and_(self, items: list[A.Node]) -> A.Node:
        return items[0] if len(items) == 1 else A.And(tuple(items), _node_span(items[0]))

    def not_(self, items: list[A.Node]) -> A.Node:
        return A.Not(items[0], _node_span(items[0]))

    @v_args(inline=True)
    def compare(self, fld: Token, op: Token, value: Any) -> A.Node:
        return A.Cmp(str(fld), Op(str(op)), value, self._span(fld))

    @v_args(inline=True)
    def member(self, fld: Token, lst: tuple[Any, ...]) -> A.Node:
        return A.Cmp(str(fld), Op.IN, lst, self._span(fld))

    @v_args(inline=True)
    def exists(self, fld: Token) -> A.Node:
        return A.Cmp(str(fld), Op.EXISTS, None, self._span(fld))

    @v_args(inline=True)
    def ref(self, name: Token) -> A.Node:
        return A.Ref(str(name), self._span(name))

    def true(self, _: list[Any]) -> A.Node:
        return A.Const(True)

    def false(self, _: list[Any]) -> A.Node:
        return A.Const(False)

    @v_args(inline=True)
    def string(self, tok: Token) -> str:
        return _unquote(str(tok))

    @v_args(inline=True)
    def number(self, tok: Token) -> int:
        return int(tok)

    @v_args(inline=True)
    def listref(self, tok: Token) -> A.ListRef:
        return A.ListRef(str(tok), self._span(tok))

    def list(self, items: list[Any]) -> tuple[Any, ...]:
        return tuple(i for i in items if i is not None)


def _node_span(n: A.Node) -> Span:
    return n.span


_EXPECT_WORDS = {
    "OP": "an operator (==, !=, <, startswith, regex, ...)", "FIELD": "a field name",
    "STRING": "a quoted string", "NUMBER": "a number", "NAME": "a list or macro name",
    "_AND": "'and'", "_OR": "'or'", "_IN": "'in'", "_EXISTS": "'exists'", "RPAR": "')'",
    "LPAR": "'('", "_NOT": "'not'", "$END": "end of expression", "COMMA": "','",
    "_TRUE": "'true'", "_FALSE": "'false'", "LSQB": "'['", "RSQB": "']'",
}


def parse_expr(text: str, pos: PosMap, diags: Collector) -> A.Node | None:
    """Parse one expression; syntax errors become located diagnostics (JR040)."""
    if len(text) > 100_000:
        diags.add("JR040", "expression longer than 100000 characters", pos(1, 1),
                  "split it into macros")
        return None
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        line, col = max(e.line, 1), max(e.column, 1)
        if isinstance(e, UnexpectedToken):
            got = "end of expression" if e.token.type == "$END" else repr(str(e.token))
            exp = sorted(_EXPECT_WORDS.get(t, t) for t in e.expected)[:5]
            msg = f"unexpected {got}; expected " + " or ".join(exp)
        elif isinstance(e, UnexpectedCharacters):
            at = e.pos_in_stream or 0
            msg = f"unexpected character {text[at]!r}" if at < len(text) else "unexpected end"
        elif isinstance(e, UnexpectedEOF):
            msg = "expression ends too early"
        else:
            msg = "syntax error"
        diags.add("JR040", msg, pos(line, col),
                  'write FIELD OP VALUE, e.g. process.exe endswith "/xmrig"; join with and/or')
        return None
    except RecursionError:
        diags.add("JR040", "expression nested too deeply", pos(1, 1), "use fewer parentheses")
        return None
    try:
        return _ToAst(pos).transform(tree)
    except Exception as e:  # noqa: BLE001 - VisitError wraps e.g. a bad number
        inner = getattr(e, "orig_exc", e)
        if isinstance(inner, RecursionError):
            diags.add("JR040", "expression nested too deeply", pos(1, 1),
                      "use fewer parentheses or 'not's; split it into macros")
        else:
            diags.add("JR040", f"invalid expression: {inner}", pos(1, 1),
                      "check the values in the expression")
        return None
