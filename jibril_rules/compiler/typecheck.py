"""Resolve macros and lists, then check every comparison against the field/operator registries."""

from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import Collector, Span
from ..core.fields import FIELDS, FType
from ..core.ops import OPS, Op
from ..core.regexcheck import check_regex
from . import ast as A


@dataclass
class Env:
    lists: dict[str, tuple[tuple[str | int, ...], Span]] = field(default_factory=dict)
    macros: dict[str, tuple[A.Node, Span]] = field(default_factory=dict)


class Checker:
    def __init__(self, env: Env, diags: Collector) -> None:
        self.env, self.diags = env, diags
        self._macros: dict[str, A.Node] = {}  # resolved bodies: each macro is checked once

    def resolve(self, n: A.Node, stack: tuple[str, ...] = ()) -> A.Node:
        """Return the node with macros inlined and lists expanded; report unknown names."""
        if isinstance(n, A.And):
            return A.And(tuple(self.resolve(i, stack) for i in n.items), n.span)
        if isinstance(n, A.Or):
            return A.Or(tuple(self.resolve(i, stack) for i in n.items), n.span)
        if isinstance(n, A.Not):
            return A.Not(self.resolve(n.item, stack), n.span)
        if isinstance(n, A.Ref):
            if n.name in stack:
                self.diags.add("JR044", f"macro '{n.name}' refers to itself ({' -> '.join(stack + (n.name,))})",
                               n.span, "break the cycle between these macros")
                return A.FALSE
            done = self._macros.get(n.name)
            if done is not None:
                return done
            m = self.env.macros.get(n.name)
            if m is None:
                self._unknown("macro", n.name, n.span, self.env.macros, "'condition:'")
                return A.FALSE
            body = self.resolve(m[0], stack + (n.name,))
            self._macros[n.name] = body
            return body
        if isinstance(n, A.Cmp):
            return self.check_cmp(n)
        return n

    def _unknown(self, kind: str, name: str, span: Span, known: dict[str, Any], body: str) -> None:
        near = difflib.get_close_matches(name, list(known), n=1)
        other = (f'quote a literal: ("{name}"), or define ' if kind == "list" else "define ")
        self.diags.add("JR043", f"unknown {kind} '{name}'", span,
                       f"did you mean '{near[0]}'?" if near else f"{other}it with '- {kind}: NAME' and {body}")

    def check_macros(self) -> None:
        """Check every macro, used or not, so an unused macro's errors still show in lint."""
        for name, (_, span) in self.env.macros.items():
            self.resolve(A.Ref(name, span))

    def _expand(self, n: A.Cmp) -> A.Cmp:
        if not isinstance(n.value, tuple):
            return n
        out: list[str | int] = []
        f = FIELDS.get(n.field)
        for v in n.value:
            if isinstance(v, A.ListRef):
                lst = self.env.lists.get(v.name)
                if lst is None:
                    if self._bare_word(v, f):
                        out.append(v.name)
                        continue
                    self._unknown("list", v.name, v.span, self.env.lists, "'items:'")
                    continue
                out.extend(lst[0])
            else:
                out.append(v)
        return A.Cmp(n.field, n.op, tuple(dict.fromkeys(out)), n.span)

    def _bare_word(self, v: A.ListRef, f: Any) -> bool:
        """Falco style `in (nginx, apache2)`: a bare word that names no list is the string.

        Only for string fields, and not when it looks like a misspelt list name (then the
        unknown-list error with the suggestion is more useful than a silent literal).
        """
        if f is None or f.type.scalar is not FType.STR:
            return False
        if difflib.get_close_matches(v.name, list(self.env.lists), n=1, cutoff=0.8):
            return False
        self.diags.note("JR045", f"'{v.name}' names no list, so it is read as the string \"{v.name}\"",
                        v.span, f'quote it ("{v.name}") to say so, or define it with \'- list: {v.name}\'')
        return True

    def check_cmp(self, n: A.Cmp) -> A.Node:
        n = self._expand(n)
        f = FIELDS.get(n.field)
        if f is None:
            near = difflib.get_close_matches(n.field, list(FIELDS), n=1)
            self.diags.add("JR041", f"unknown field '{n.field}'", n.span,
                           f"did you mean '{near[0]}'?" if near else "see docs/fields.md")
            return A.FALSE
        info = OPS[n.op]
        st = f.type.scalar
        if n.op is Op.CONTAINS and f.type.is_list:
            pass  # element membership
        elif st not in info.scalar_types:
            ok = ", ".join(o.value for o, i in OPS.items() if st in i.scalar_types)
            self.diags.add("JR042", f"'{n.op.value}' does not apply to {n.field} ({f.type.value})",
                           n.span, f"operators for {f.type.value}: {ok}")
            return A.FALSE
        values = n.value if isinstance(n.value, tuple) else (() if n.value is None else (n.value,))
        if info.value == "list" and not isinstance(n.value, tuple):
            values = (n.value,)  # type: ignore[assignment]
        bad = False
        for v in values:
            bad |= not self._check_value(n, st, v)
        if bad:
            return A.FALSE
        if n.op is Op.REGEX and isinstance(n.value, str):
            problem = check_regex(n.value)
            if problem:
                hint = ("use a simpler pattern, e.g. avoid nesting + or * inside a repeated group"
                        if problem[0] == "JR031" else "fix the regular expression syntax")
                self.diags.add(problem[0], problem[1], n.span, hint)
                return A.FALSE
        if n.op is Op.IN and not isinstance(n.value, tuple):
            return A.Cmp(n.field, n.op, (n.value,) if n.value is not None else (), n.span)
        return n

    def _check_value(self, n: A.Cmp, st: FType, v: object) -> bool:
        if n.op in (Op.STARTSWITH, Op.ENDSWITH, Op.GLOB, Op.REGEX) and not isinstance(v, str):
            self.diags.add("JR042", f"'{n.op.value}' needs a string, got {v!r}", n.span,
                           'quote the value: "..."')
            return False
        if st is FType.INT and not isinstance(v, int):
            self.diags.add("JR042", f"{n.field} is a number; {v!r} is not", n.span,
                           "write the number without quotes")
            return False
        if st is FType.STR and n.op not in (Op.CONTAINS,) and not isinstance(v, str):
            self.diags.add("JR042", f"{n.field} is a string; compare it with a quoted string",
                           n.span, f'write "{v}"')
            return False
        if st is FType.IP:
            try:
                if n.op is Op.IN:
                    ipaddress.ip_network(str(v), strict=False)
                else:
                    ipaddress.ip_address(str(v))
            except ValueError:
                self.diags.add("JR071", f"'{v}' is not a valid IP address or CIDR", n.span,
                               "write e.g. 10.0.0.0/8 or 2001:db8::/32")
                return False
        if n.field.endswith(".port") and isinstance(v, int) and not 0 <= v <= 65535:
            self.diags.add("JR072", f"port {v} is outside 0-65535", n.span, "use a valid port")
            return False
        return True
