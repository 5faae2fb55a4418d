"""The one registry of operators: which field types each accepts and what value it takes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .fields import FType


class Op(str, Enum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    STARTSWITH = "startswith"
    ENDSWITH = "endswith"
    CONTAINS = "contains"
    GLOB = "glob"
    REGEX = "regex"
    EXISTS = "exists"


S, N, IP = FType.STR, FType.INT, FType.IP


@dataclass(frozen=True)
class OpInfo:
    op: Op
    scalar_types: frozenset[FType]  # element types the operator applies to
    value: str  # "scalar", "list", "none", "string"
    doc: str


OPS: dict[Op, OpInfo] = {
    Op.EQ: OpInfo(Op.EQ, frozenset({S, N, IP}), "scalar", "equal"),
    Op.NE: OpInfo(Op.NE, frozenset({S, N, IP}), "scalar", "not equal"),
    Op.LT: OpInfo(Op.LT, frozenset({N}), "scalar", "less than"),
    Op.LE: OpInfo(Op.LE, frozenset({N}), "scalar", "less or equal"),
    Op.GT: OpInfo(Op.GT, frozenset({N}), "scalar", "greater than"),
    Op.GE: OpInfo(Op.GE, frozenset({N}), "scalar", "greater or equal"),
    Op.IN: OpInfo(Op.IN, frozenset({S, N, IP}), "list",
                  "one of the listed values (for ip fields: addresses or CIDRs)"),
    Op.STARTSWITH: OpInfo(Op.STARTSWITH, frozenset({S}), "string", "string prefix"),
    Op.ENDSWITH: OpInfo(Op.ENDSWITH, frozenset({S}), "string", "string suffix"),
    Op.CONTAINS: OpInfo(Op.CONTAINS, frozenset({S, N}), "scalar",
                        "substring (strings) or element (lists)"),
    Op.GLOB: OpInfo(Op.GLOB, frozenset({S}), "string", "shell glob (fnmatch, * crosses /)"),
    Op.REGEX: OpInfo(Op.REGEX, frozenset({S}), "string", "regular expression search (Python re)"),
    Op.EXISTS: OpInfo(Op.EXISTS, frozenset({S, N, IP}), "none", "the field is present and non-empty"),
}
