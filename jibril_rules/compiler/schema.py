"""Structural validation of recipe-file entries with cerberus; every error keeps its span."""

from __future__ import annotations

import difflib
import functools
from typing import Any

from cerberus import Validator
from cerberus import errors as cerr

from ..core.errors import Collector
from ..core.source import LList, LMap, key_span, span_of
from ..core.vocab import (
    FILE_ACTION_MACROS,
    FILE_ACTIONS,
    FLOW_FLAGS,
    IMPORTANCE,
    MAX_REACTION_MEMORY_MB,
    MAX_REACTION_TIMEOUT_MS,
    MECHANISMS,
    MODES,
    PROTOCOLS,
    TIMES_KINDS,
)
from ..core.yaml12 import yaml11_bool_hint

MECHANISMS_SUPPORTED = MECHANISMS
BREEDS = ("file_access", "execution", "remote_domains", "remote_ips", "local_domains",
          "local_ips", "remote_cidrs", "local_cidrs", "env_vars")
WHATS = ("exe", "cmd", "args", "comm", "uid", "pid", "ppid", "parent_exe", "parent_cmd",
         "parent_args", "parent_comm", "task_or_parent_exe", "task_or_parent_args",
         "task_or_parent_cmd", "ancient_exe", "ancient_cmd", "remote_port", "local_port",
         "remote_address", "local_address")
_S = {"type": "string"}
_SN = {"type": "string", "nullable": True}
_SLIST = {"type": "list", "schema": {"type": ["string", "integer"]}, "nullable": True}
_ACTIONS = {"type": ["list", "string"], "nullable": True,
            "schema": {"type": "string", "allowed": FILE_ACTIONS + tuple(FILE_ACTION_MACROS)}}
_FLOWS = {"type": ["list", "string"], "nullable": True,
          "schema": {"type": "string", "allowed": FLOW_FLAGS}}
_HOW = {"type": "string", "allowed": ("any", "all"), "nullable": True}
_PORT = {"type": "integer", "min": 0, "max": 65535, "nullable": True}

RECIPE_SCHEMA: dict[str, Any] = {
    "kind": {"type": "string", "required": True, "empty": False},
    "name": {"type": "string", "required": True, "empty": False,
             "regex": r"[A-Za-z0-9_.:\-]+"},
    "enabled": {"type": "boolean", "nullable": True},
    "version": {"type": ["string", "number"], "nullable": True},
    "description": _SN, "documentation": _SN,
    "breed": {"type": "string", "allowed": BREEDS, "nullable": True},
    "mechanism": {"type": "string", "allowed": MECHANISMS_SUPPORTED, "required": True},
    "tactic": _SN, "technique": _SN, "subtechnique": _SN,
    "importance": {"type": "string", "allowed": IMPORTANCE, "nullable": True},
    "times": {"type": "list", "nullable": True, "schema": {"type": "dict", "schema": {
        "kind": {"type": "string", "allowed": TIMES_KINDS, "required": True},
        "max": {"type": "integer", "min": 0, "required": True}}}},
    "arbitrary": {"type": "list", "nullable": True, "schema": {"type": "dict", "schema": {
        "how": {"type": "string", "allowed": ("AND", "OR"), "required": True},
        "which": {"type": "string", "allowed": ("pertinent", "irrelevant"), "required": True},
        "items": {"type": "list", "required": True, "schema": {"type": "dict", "schema": {
            "what": {"type": "string", "allowed": WHATS, "required": True},
            "which": {"type": "string", "allowed": ("pertinent", "irrelevant"), "required": True},
            "pattern": _S, "number": {"type": "integer"},
            "numbers": {"type": "list", "schema": {"type": "integer"}},
            "time": _S, "cidr": _S,
            "when": {"type": "string", "allowed": ("smaller", "bigger", "equal")}}}}}}},
    "reactions": {"type": "list", "nullable": True, "schema": {"type": "dict", "schema": {
        "format": {"type": "string", "allowed": ("js", "shell"), "required": True},
        "code": {"type": "string", "required": True, "empty": False},
        "timeout_ms": {"type": "integer", "min": 1, "max": MAX_REACTION_TIMEOUT_MS},
        "memory_mb": {"type": "integer", "min": 1, "max": MAX_REACTION_MEMORY_MB}}}},
    "file_actions": _ACTIONS, "file_actions_how": _HOW, "file_actions_excl": _ACTIONS,
    "bases": {"type": "list", "nullable": True, "schema": {"type": "dict", "schema": {
        "base": _S, "dir": _S, "regex": _S}}},
    "base": _S, "dir": _S, "regex": _S,
    "remote_domains": _SLIST, "local_domains": _SLIST,
    "remote_domains_type": {"type": "string", "allowed": ("exact", "suffix", "prefix")},
    "remote_domains_trie_type": {"type": "string", "allowed": ("exact", "suffix", "prefix")},
    "remote_cidrs": _SLIST, "local_cidrs": _SLIST,
    "protocol": {"type": "string", "allowed": PROTOCOLS, "nullable": True},
    "local_port": _PORT, "remote_port": _PORT,
    "flow_actions": _FLOWS, "flow_actions_how": _HOW, "flow_actions_excl": _FLOWS,
    "when": _S,
    "mode": {"type": "string", "allowed": MODES},
    "prevent": {"type": "string", "allowed": ("kill", "deny"), "nullable": True},
    "exceptions": {"type": "list", "nullable": True, "schema": {"type": "dict", "schema": {
        "name": {"type": "string", "required": True}, "when": {"type": "string", "required": True}}}},
}
LIST_SCHEMA: dict[str, Any] = {
    "list": {"type": "string", "required": True, "regex": r"[A-Za-z_][A-Za-z0-9_\-]*"},
    "items": {"type": "list", "required": True, "schema": {"type": ["string", "integer"]}},
    "description": _SN,
}
MACRO_SCHEMA: dict[str, Any] = {
    "macro": {"type": "string", "required": True, "regex": r"[A-Za-z_][A-Za-z0-9_\-]*"},
    "condition": {"type": "string", "required": True, "empty": False},
    "description": _SN,
}
EXCEPTION_SCHEMA: dict[str, Any] = {
    "exception": {"type": "string", "required": True},
    "recipe": {"type": "string", "required": True},
    "when": {"type": "string", "required": True, "empty": False},
    "description": _SN,
}
SCHEMAS = {"recipe": RECIPE_SCHEMA, "list": LIST_SCHEMA, "macro": MACRO_SCHEMA,
           "exception": EXCEPTION_SCHEMA}


def entry_type(entry: LMap) -> str:
    for t in ("list", "macro", "exception"):
        if t in entry and "kind" not in entry:
            return t
    return "recipe"


@functools.cache
def _validator(kind: str) -> Validator:
    return Validator(SCHEMAS[kind])


def validate(entry: LMap, diags: Collector) -> bool:
    """Validate one entry; add a diagnostic per problem; True when structurally valid."""
    kind = entry_type(entry)
    v = _validator(kind)
    if v.validate(dict(entry), normalize=False):
        return True
    before = len(diags.items)
    for err in _flatten(v._errors):
        _report(entry, kind, err, diags)
    return len(diags.items) == before


def schema_errors(entry: LMap, kind: str) -> list[tuple[tuple[Any, ...], int]]:
    """(document path, cerberus error code) of every problem, reporting nothing."""
    v = _validator(kind)
    if v.validate(dict(entry), normalize=False):
        return []
    return [(tuple(e.document_path), e.code) for e in _flatten(v._errors)]


def _flatten(errs: Any) -> list[Any]:
    out: list[Any] = []
    for e in errs:
        if e.is_group_error and e.child_errors:
            out.extend(_flatten(e.child_errors))
        else:
            out.append(e)
    return out


def _locate(entry: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    """Walk the document path; return (container, last key) for span lookup."""
    container: Any = entry
    for key in path[:-1]:
        try:
            container = container[key]
        except (KeyError, IndexError, TypeError):
            break
    return container, path[-1] if path else None


def _allowed_keys(kind: str, path: tuple[Any, ...]) -> list[str]:
    schema: Any = SCHEMAS[kind]
    for key in path[:-1]:
        if isinstance(key, int):
            continue
        rule = schema.get(key, {}) if isinstance(schema, dict) else {}
        inner = rule.get("schema", {})
        if inner.get("type") == "dict":
            inner = inner.get("schema", {})
        schema = inner
    return sorted(schema) if isinstance(schema, dict) else []


def _report(entry: LMap, kind: str, err: Any, diags: Collector) -> None:
    path = tuple(err.document_path)
    container, last = _locate(entry, path)
    where = ".".join(str(p) for p in path) or kind
    if err.code == cerr.UNKNOWN_FIELD.code:
        choices = _allowed_keys(kind, path)
        near = difflib.get_close_matches(str(last), choices, n=1)
        hint = f"did you mean '{near[0]}'?" if near else "valid keys: " + ", ".join(choices[:12])
        span = key_span(container, str(last)) if isinstance(container, LMap) else span_of(container)
        diags.add("JR020", f"unknown key '{last}'", span, hint)
    elif err.code == cerr.REQUIRED_FIELD.code:
        diags.add("JR023", f"'{where}' is required", span_of(container),
                  f"add '{last}:' to this {kind}")
    elif err.code == cerr.BAD_TYPE.code:
        want = err.constraint if isinstance(err.constraint, str) else " or ".join(err.constraint)
        got = type(err.value).__name__
        hint = (yaml11_bool_hint(err.value) if "boolean" in want else None) or f"write a {want} here"
        diags.add("JR021", f"'{where}' must be {want}, not {_tname(got)}",
                  span_of(container, last), hint)
    elif err.code in (cerr.UNALLOWED_VALUE.code, cerr.UNALLOWED_VALUES.code):
        allowed = [str(a) for a in err.constraint]
        near = difflib.get_close_matches(str(err.value), allowed, n=1)
        hint = f"did you mean '{near[0]}'?" if near else "one of: " + ", ".join(allowed[:16])
        diags.add("JR022", f"'{err.value}' is not a valid {_leaf(path)}",
                  span_of(container, last), hint)
    else:
        msg = {cerr.MIN_VALUE.code: f"is below the minimum {err.constraint}",
               cerr.MAX_VALUE.code: f"is above the maximum {err.constraint}",
               cerr.EMPTY_NOT_ALLOWED.code: "must not be empty",
               cerr.REGEX_MISMATCH.code: "has characters that are not allowed",
               cerr.NOT_NULLABLE.code: "must not be null"}.get(err.code, "is invalid")
        diags.add("JR022", f"'{where}' {msg}", span_of(container, last),
                  "see docs/recipes.md for the allowed values")


def _leaf(path: tuple[Any, ...]) -> str:
    for p in reversed(path):
        if isinstance(p, str):
            return p
    return "value"


def _tname(t: str) -> str:
    return {"LStr": "string", "LList": "list", "LMap": "mapping", "str": "string",
            "NoneType": "null", "dict": "mapping"}.get(t, t)


__all__ = ["validate", "entry_type", "schema_errors", "LList"]
