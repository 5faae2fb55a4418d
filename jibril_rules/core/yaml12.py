"""YAML 1.2 core-schema scalars on top of PyYAML (libyaml), which resolves as YAML 1.1.

YAML 1.1 turns `no`, `off` and `y` into booleans, `0755` into 493 and `1:30` into 90; users
of today's YAML (and of Jibril, written in Go with YAML 1.2 rules) mean the words and the
decimal number. The loader here knows only the 1.2 core schema: null (`null`, `~`, empty),
booleans (`true`/`false` in three spellings), decimal, `0o` octal and `0x` hex integers,
and floats. Everything else is a string. Only how plain scalars are *typed* changes; the
parser, its positions and its speed are libyaml's.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TAG_NULL = "tag:yaml.org,2002:null"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"


class Loader(_BASE):  # type: ignore[valid-type,misc]
    """libyaml's parser with YAML 1.2 core-schema implicit tags."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}


for _tag, _rx, _first in ((TAG_BOOL, _BOOL, "tTfF"), (TAG_INT, _INT, "-+0123456789"),
                          (TAG_FLOAT, _FLOAT, "-+0123456789."), (TAG_NULL, _NULL, "~nN")):
    Loader.add_implicit_resolver(_tag, _rx, list(_first))
Loader.add_implicit_resolver(TAG_NULL, _NULL, [""])  # the empty scalar


def plain_value(tag: str, text: str) -> tuple[bool, Any]:
    """(True, value) for a core-schema tag, typed by YAML 1.2 rules; (False, None) otherwise."""
    if tag == TAG_NULL and _NULL.match(text):
        return True, None
    if tag == TAG_BOOL and _BOOL.match(text):
        return True, text.lower() == "true"
    if tag == TAG_INT and _INT.match(text):
        if text.startswith("0o"):
            return True, int(text[2:], 8)
        if text.startswith("0x"):
            return True, int(text[2:], 16)
        return True, int(text, 10)
    if tag == TAG_FLOAT and _FLOAT.match(text):
        low = text.lower()
        if low.endswith(".inf"):
            return True, -math.inf if low.startswith("-") else math.inf
        if low == ".nan":
            return True, math.nan
        return True, float(text)
    return False, None


def leading_zero(text: str) -> bool:
    """`0755`: YAML 1.1 tools read it as octal, YAML 1.2 as decimal; worth a warning."""
    digits = text.lstrip("+-")
    return len(digits) > 1 and digits.startswith("0") and digits.isdigit()


YAML11_WORDS = frozenset({"yes", "no", "on", "off", "y", "n"})


def yaml11_bool_hint(value: object) -> str | None:
    """For a string where a boolean belongs: the 1.1 word the user probably meant as one."""
    if isinstance(value, str) and value.strip().lower() in YAML11_WORDS:
        truth = value.strip().lower() in ("yes", "on", "y")
        return (f"write {'true' if truth else 'false'}: '{value}' is a word, not a boolean "
                "(YAML 1.2 booleans are true and false)")
    return None
