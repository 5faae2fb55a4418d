"""Compile interned atoms into Python predicates over an event's extracted field values."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from ..core.fields import FIELDS, FType
from ..core.ir import AtomKey
from ..core.ops import Op

Pred = Callable[[Any], bool]


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _scalar_pred(ftype: FType, op: Op, value: Any) -> Pred:
    """Predicate on one scalar element (strings, ints or IP strings)."""
    if ftype is FType.IP:
        nets = [ipaddress.ip_network(str(x), strict=False)
                for x in (value if isinstance(value, tuple) else (value,))]

        def ip_in(v: Any) -> bool:
            try:
                ip = ipaddress.ip_address(str(v))
            except ValueError:
                return False
            return any(ip.version == n.version and ip in n for n in nets)
        return ip_in
    if ftype is FType.INT:
        if op is Op.IN:
            s = frozenset(value)
            return lambda v: _as_int(v) in s
        x = value
        cmp: dict[Op, Callable[[int], bool]] = {
            Op.EQ: lambda i: i == x, Op.CONTAINS: lambda i: i == x, Op.LT: lambda i: i < x,
            Op.LE: lambda i: i <= x, Op.GT: lambda i: i > x, Op.GE: lambda i: i >= x}
        f = cmp[op]

        def int_pred(v: Any) -> bool:
            i = _as_int(v)
            return i is not None and f(i)
        return int_pred
    if op is Op.EQ:
        return lambda v: v == value
    if op is Op.IN:
        s = frozenset(str(x) for x in value)
        return lambda v: v in s
    if op is Op.STARTSWITH:
        return lambda v: isinstance(v, str) and v.startswith(value)
    if op is Op.ENDSWITH:
        return lambda v: isinstance(v, str) and v.endswith(value)
    if op is Op.CONTAINS:
        needle = str(value)
        return lambda v: isinstance(v, str) and needle in v
    if op is Op.REGEX:
        search = re.compile(value).search
        return lambda v: isinstance(v, str) and search(v) is not None
    if op is Op.GLOB:
        match = re.compile(fnmatch.translate(value)).match
        return lambda v: isinstance(v, str) and match(v) is not None
    raise ValueError(f"operator {op.value} not valid for strings")


def compile_atom(key: AtomKey) -> Pred:
    """A predicate over the raw extracted value: None means the field is absent."""
    fname, op, value = key
    f = FIELDS[fname]
    if op is Op.EXISTS:
        return lambda v: v is not None and v != "" and v != []
    negate = op is Op.NE
    if negate:
        op = Op.EQ
    if f.type.is_list and op is Op.CONTAINS:
        op = Op.EQ
    p = _scalar_pred(f.type.scalar, op, value)
    if f.type.is_list:
        def list_pred(v: Any) -> bool:
            if isinstance(v, str):
                v = [x for x in v.split("|") if x]
            return isinstance(v, list) and any(p(e) for e in v)
        base = list_pred
    else:
        def scalar(v: Any) -> bool:
            return v is not None and p(v)
        base = scalar
    if negate:
        return lambda v: not base(v)
    return base
