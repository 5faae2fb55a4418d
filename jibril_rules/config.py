"""Agent configuration (jibril.yaml): one declarative schema, every error located, collected.

Each section is a small table of `confschema.Field`s; add a section by adding one entry to
`SECTIONS`. No cerberus or lark here: `jibril run` loads this at start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path as _P
from typing import Any

from .core.confschema import (
    INVALID,
    At,
    Bool,
    Cidr,
    Field,
    Float,
    Int,
    Kind,
    ListOf,
    Nullable,
    Path,
    Section,
    Str,
    validate,
)
from .core.errors import Collector, JibrilError
from .core.source import load_yaml, read_source, span_of
from .core.vocab import MAX_REACTION_MEMORY_MB, MAX_REACTION_TIMEOUT_MS

DEFAULT_NAMES = ("jibril.yaml",)

# Bounds shared with the recipe schema (per-recipe `timeout_ms:` / `memory_mb:` overrides).
MAX_TIMEOUT_MS = MAX_REACTION_TIMEOUT_MS
MAX_MEMORY_MB = MAX_REACTION_MEMORY_MB
MAX_PID = 4_194_304  # PID_MAX_LIMIT on 64-bit Linux

# ---- printers -------------------------------------------------------------------------


@dataclass(frozen=True)
class PrinterSpec:
    """One printer: its kind, the text after `kind:` and the settings of the mapping form."""

    kind: str
    arg: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def text(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}:{self.arg}"

    def __str__(self) -> str:
        return self.text

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class PrinterKind:
    """A printer the agent knows: `arg` says whether `kind:ARG` is none/optional/required."""

    arg: str = "none"
    arg_kind: Kind | None = None
    body: Section | None = None  # the mapping form `- kind: {...}`
    doc: str = ""


PRINTER_KINDS: dict[str, PrinterKind] = {
    "stdout": PrinterKind("optional", Str(choices=("human", "json")),
                          doc="detections on stdout: human lines, or `stdout:json` JSON lines"),
    "human": PrinterKind(doc="same as stdout"),
    "json": PrinterKind(doc="same as stdout:json"),
    "jsonl": PrinterKind("required", Path(sample="/var/log/jibril.jsonl"),
                         Section((Field("path", Path(sample="/var/log/jibril.jsonl"), None,
                                        "file the detections are appended to"),)),
                         doc="JSON lines appended to a file: `jsonl:PATH`"),
    "none": PrinterKind(doc="print nothing"),
}
_PRINTER_HINT = "printers: stdout, stdout:json, jsonl:PATH, none"


@dataclass(frozen=True)
class PrinterItem(Kind):
    """`kind`, `kind:ARG`, or a one-key mapping `{kind: {settings}}`."""

    def check(self, value: Any, at: At) -> Any:
        if isinstance(value, str):
            name, sep, arg = str(value).partition(":")
            kind = self._kind(name.strip(), at)
            if kind is None:
                return INVALID
            if not sep:
                if kind.arg == "required":
                    return at.bad(f"is '{name}', a printer that needs a path: {name}:PATH",
                                  f"write {name}:/var/log/jibril.jsonl")
                return PrinterSpec(name)
            if kind.arg == "none":
                return at.bad(f"is '{value}', but printer '{name}' takes no ':' value",
                              f"write {name}")
            assert kind.arg_kind is not None
            got = kind.arg_kind.check(arg, at)
            return INVALID if got is INVALID else PrinterSpec(name, str(got))
        if isinstance(value, dict):
            if len(value) != 1:
                return at.bad("must name one printer with its settings",
                              "write e.g. - jsonl: {path: /var/log/jibril.jsonl}")
            (name, body), = value.items()
            kind = self._kind(str(name), at)
            if kind is None:
                return INVALID
            if kind.body is None:
                return at.bad(f"gives settings to printer '{name}', which takes none",
                              f"write - {name}")
            got = kind.body.check(body, at.child(str(name), span_of(value, str(name), at.span)))
            if got is INVALID:
                return INVALID
            merged = {**kind.body.defaults(), **got}
            missing = [f.name for f in kind.body.fields if f.default is None and merged.get(f.name) is None
                       and not isinstance(f.kind, Nullable)]
            if missing:
                return at.bad(f"lacks {', '.join(missing)} for printer '{name}'",
                              f"add {missing[0]}: to its settings")
            path = merged.get("path") if kind.arg == "required" else None
            return PrinterSpec(str(name), None if path is None else str(path),
                               tuple(sorted(merged.items())))
        return at.wrong_type("a printer name or a mapping", value, _PRINTER_HINT)

    def _kind(self, name: str, at: At) -> PrinterKind | None:
        kind = PRINTER_KINDS.get(name)
        if kind is None:
            import difflib
            near = difflib.get_close_matches(name, list(PRINTER_KINDS), n=1)
            at.bad(f"is '{name}', an unknown printer",
                   (f"did you mean '{near[0]}'? " if near else "") + _PRINTER_HINT)
        return kind

    def describe(self) -> str:
        return "a printer"

    def example(self) -> str:
        return "stdout"


def parse_printer(text: str, where: str = "--output") -> PrinterSpec:
    """A printer given on the command line; ValueError(message with hint) when it is wrong."""
    diags = Collector()
    got = PrinterItem().check(text, At(where, _cli_span(where), diags))
    if got is INVALID:
        d = diags.items[0]
        msg = d.message.replace(f"'{where}' ", "", 1)
        if ":" not in text and "." in text:
            msg += f"; to write JSON lines to that file use jsonl:{text}"
        raise ValueError(f"{where} {text!r}: {msg} ({d.hint})")
    return got  # type: ignore[no-any-return]


def _cli_span(where: str) -> Any:
    from .core.errors import Span
    return Span(f"<{where}>")


# ---- sections --------------------------------------------------------------------------

_NAME = r"[A-Za-z0-9_.:\-]{1,64}"


def _state_dir_default() -> str:
    from .reactions.config import _default_state_dir
    return _default_state_dir()


REACTION_FIELDS: tuple[Field, ...] = (
    Field("mode", Str(choices=("monitor", "enforce")), "monitor",
          "monitor: helpers with side effects only record (dry run) | enforce"),
    Field("netpolicy", Bool(), False, "true: NetBlock* manage our nftables table"),
    Field("state_dir", Path(), None, "SQLite data store (default $JIBRIL_RULES_STATE or /var/lib/jibril-rules)"),
    Field("temp_root", Path(absolute=True, sample="/tmp"), "/tmp", "CreateTempDir/RemoveDir stay below it"),
    Field("writable_roots", ListOf(Path(absolute=True, sample="/srv/quarantine")), (),
          "WriteFile may write here (besides temp_root)"),
    Field("audit_path", Nullable(Path(allow_empty=True, sample="/var/log/jibril-audit.jsonl")), None,
          "JSONL audit trail (null: state_dir/audit.jsonl, \"\": off)"),
    Field("timeout_ms", Int(1, MAX_TIMEOUT_MS, "ms"), 2000, "per execution"),
    Field("memory_mb", Int(1, MAX_MEMORY_MB, "MB"), 64, "per execution"),
    Field("workers", Int(1, 256), 4, "reaction worker pool"),
    Field("queue_size", Int(1, 1_000_000), 1024, "bounded queue; overflow is counted"),
    Field("rate_limit", Int(0, 1_000_000), 0, "executions per recipe per rate_window_s (0: unlimited)"),
    Field("rate_window_s", Float(0.001, 86_400, "s"), 1.0, "window of rate_limit"),
    Field("dedup_window_s", Float(0, 86_400, "s"), 0.0, "same recipe + process within it: run once"),
    Field("min_pid", Int(1, MAX_PID), 500, "kill helpers refuse lower pids"),
    Field("protected_pids", ListOf(Int(1, MAX_PID)), (), "never killed"),
    Field("protected_names", ListOf(Str(pattern=r"[^/\x00]{1,255}", what="a process name (no '/')",
                                        sample="sshd")), (),
          "comm or exe basename never killed"),
    Field("net_table", Str(pattern=r"[A-Za-z][A-Za-z0-9_]{0,31}",
                           what="an nftables table name (a letter, then letters, digits or _)",
                           sample="jibril_rules"), "jibril_rules", "our own nftables inet table"),
    Field("net_netns", Nullable(Str(pattern=r"[A-Za-z0-9_.\-]{1,64}", what="a network namespace name",
                                    sample="jr-test")), None, "act inside this network namespace"),
    Field("net_allowlist", ListOf(Cidr()), (), "CIDRs never blocked (loopback always is)"),
    Field("allow_poweroff", Bool(), False, "PowerOff() acts only when true AND mode is enforce"),
    Field("allow_panic", Bool(), False, "Panic() likewise"),
    Field("shared_namespace", Str(pattern=_NAME, what="a namespace name", sample="shared"), "shared",
          "data store namespace of `shared:` keys"),
    Field("shell_path", Path(absolute=True, sample="/bin/sh"), "/bin/sh", "shell of shell reactions"),
    Field("log_to_python", Bool(), True, "reaction logs also go to the Python logger"),
)


def _derived(name: str, annotation: Any) -> Kind:
    """A kind for a ReactionConfig field this table does not list yet (strict by its type)."""
    text = str(annotation).replace(" ", "")
    return {"int": Int(0), "float": Float(0), "bool": Bool(), "str": Str(),
            "str|None": Nullable(Str()), "int|None": Nullable(Int(0)),
            "float|None": Nullable(Float(0)), "tuple[str,...]": ListOf(Str()),
            "tuple[int,...]": ListOf(Int(0))}.get(text, Str())


def reaction_section() -> Section:
    """REACTION_FIELDS, plus any ReactionConfig field not listed (typed from its annotation)."""
    from .reactions.config import ReactionConfig
    listed = {f.name for f in REACTION_FIELDS}
    extra = tuple(Field(f.name, _derived(f.name, f.type), None, "")
                  for f in dataclasses.fields(ReactionConfig) if f.name not in listed)
    return Section(REACTION_FIELDS + extra, "the reactions runtime (docs/reactions.md)")


def sections() -> dict[str, Kind]:
    """Top-level keys of jibril.yaml. Add a section here: one entry, one table."""
    return {
        "printers": ListOf(PrinterItem(), max_items=64),
        "reactions": reaction_section(),
    }


def schema() -> Section:
    return Section(tuple(Field(k, v) for k, v in sections().items()), dashes=False)


# ---- loading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    printers: tuple[PrinterSpec, ...] = (PrinterSpec("stdout"),)
    reactions: dict[str, Any] = field(default_factory=dict)  # the keys the file sets, checked
    path: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # every checked top-level section
    printers_set: bool = False  # the file lists its printers

    @property
    def netpolicy(self) -> bool:
        return bool(self.reactions.get("netpolicy", False))

    def get(self, dotted: str, default: Any = None) -> Any:
        """A checked value by path (`reactions.mode`), else the schema default, else `default`."""
        node: Any = self.values
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return _schema_default(dotted, default)
            node = node[part]
        return node

    def printer_specs(self, fmt: str = "human", extra: tuple[str, ...] = ()) -> list[PrinterSpec]:
        """What `run` and `replay` print to: the file's printers (or stdout), `--format json`
        turning stdout into JSON lines, plus the `--output` printers (ValueError if bad)."""
        base = list(self.printers) if self.printers_set else [PrinterSpec("stdout")]
        if fmt == "json":
            base = [PrinterSpec("stdout", "json") if p.kind in ("stdout", "human") else p for p in base]
        return base + [parse_printer(x) for x in extra]


def _schema_default(dotted: str, default: Any) -> Any:
    node: Any = schema()
    for part in dotted.split("."):
        if not isinstance(node, Section) or part not in node.by_name():
            return default
        f = node.by_name()[part]
        node = f.kind if isinstance(f.kind, Section) else f
    if isinstance(node, Field):
        return default if node.default is None else node.default
    return default


def load_config(path: str | None) -> Config:
    """Load the given config, or ./jibril.yaml when present, else defaults."""
    if path is None:
        found = next((p for p in DEFAULT_NAMES if _P(p).is_file()), None)
        if found is None:
            return Config()
        path = found
    diags = Collector()
    src = read_source(path, diags)
    doc = load_yaml(src, diags) if src else None
    if doc is None and diags.errors:  # unreadable: nothing to check further
        raise JibrilError(diags.errors)
    from .core.errors import Span
    got = validate(doc, schema(), diags, Span(path))
    if got is None or diags.errors:
        raise JibrilError(diags.errors)
    printers = got.get("printers")
    return Config(tuple(printers) if printers is not None else (PrinterSpec("stdout"),),
                  dict(got.get("reactions") or {}), path, got, printers is not None)


__all__ = ["Config", "PRINTER_KINDS", "PrinterKind", "PrinterSpec", "load_config", "parse_printer",
           "schema", "sections"]
