"""Agent configuration (jibril.yaml): one declarative schema, every error located, collected.

Each section is a small table of `confschema.Field`s; add a section by adding one entry to
`sections()`. No cerberus or lark here: `jibril run` loads this at start. Printers:
`confprinters.py`.

Lookup order (docs/cli.md): `--config FILE` (or $JIBRIL_CONFIG), else ./jibril.yaml, else
/etc/jibril/jibril.yaml (below $JIBRIL_ROOT when set, for tests), else the defaults.
`-o KEY.SUB=VALUE` overrides (overrides.py) are merged over the file's document before it is
checked, so they go through this same schema and their errors name the override.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path as _P
from typing import Any

from .confprinters import PRINTER_KINDS, PrinterItem, PrinterKind, parse_printer
from .core.confschema import (
    At,
    Bool,
    Cidr,
    Field,
    Float,
    Int,
    Kind,
    ListOf,
    Nullable,
    OneOf,
    Path,
    Section,
    Str,
    plain,
    validate,
)
from .core.errors import Collector, JibrilError
from .core.source import load_yaml, read_source, span_of
from .core.vocab import MAX_REACTION_MEMORY_MB, MAX_REACTION_TIMEOUT_MS, MODES
from .fleet.trust import bundles_section, trust_config

DEFAULT_NAMES = ("jibril.yaml",)
SYSTEM_DIR = "etc/jibril"  # below the root: / (or $JIBRIL_ROOT, for tests)
SYSTEM_CONFIG = f"{SYSTEM_DIR}/jibril.yaml"


def find_config(root: str | None = None) -> str | None:
    """Search order: ./jibril.yaml, then ROOT/etc/jibril/jibril.yaml (what `service install` wrote)."""
    found = next((p for p in DEFAULT_NAMES if _P(p).is_file()), None)
    if found is not None:
        return found
    system = _P(root or os.environ.get("JIBRIL_ROOT") or "/") / SYSTEM_CONFIG
    return str(system) if system.is_file() else None


def locate_config(path: str | None) -> tuple[str | None, str]:
    """The file to read and why (said with -v, and by lint): the given one, else find_config()."""
    if path:
        return path, f"configuration {path} (--config)"
    found = find_config()
    if found:
        return found, f"configuration {found} (found; lookup: --config, ./jibril.yaml, /{SYSTEM_CONFIG})"
    return None, f"no configuration file (looked for ./jibril.yaml, /{SYSTEM_CONFIG}); defaults"

# Bounds shared with the recipe schema (per-recipe `timeout_ms:` / `memory_mb:` overrides).
MAX_TIMEOUT_MS = MAX_REACTION_TIMEOUT_MS
MAX_MEMORY_MB = MAX_REACTION_MEMORY_MB
MAX_PID = 4_194_304  # PID_MAX_LIMIT on 64-bit Linux

# ---- sections --------------------------------------------------------------------------

_NAME = r"[A-Za-z0-9_.:\-]{1,64}"


def _state_dir_default() -> str:
    from .reactions.config import _default_state_dir
    return _default_state_dir()


def _bounded(name: str, default: float, unit: str, doc: str) -> Field:
    """A row for a bounded reactions setting, its bounds from reactions/config.py (one source)."""
    from .reactions.config import BOUNDS  # light: no V8
    lo, hi = BOUNDS[name]
    kind: Kind = Float(lo, hi, unit) if isinstance(default, float) else Int(int(lo), int(hi), unit)
    return Field(name, kind, default, doc)


# -- fleet (issue 10): the Data* store shared by hosts (reactions/store_redis.py) --
FLEET_REACTION_FIELDS: tuple[Field, ...] = (
    Field("store", Str(pattern=r"|sqlite|(redis|rediss|unix)://\S+",
                       what="sqlite or a redis://HOST:PORT/DB URL", sample="redis://127.0.0.1:6379/0"),
          "", "sqlite (embedded) | redis://HOST:PORT/DB: `shared:` keys live in Redis"),
    Field("store_recipe_keys", Bool(), False, "true: every recipe's own keys go to Redis too"),
    Field("store_timeout_ms", Int(1, 10_000, "ms"), 50, "bound of one Redis call"),
)


REACTION_FIELDS: tuple[Field, ...] = FLEET_REACTION_FIELDS + (
    Field("mode", Str(choices=MODES), "monitor",
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
    # limits and size caps (issue 7); their bounds are reactions/config.py's BOUNDS
    *(_bounded(name, default, unit, doc) for name, default, unit, doc in (
        ("max_timeout_ms", 60_000, "ms", "a recipe's own timeout_ms is clamped to this"),
        ("max_memory_mb", 1024, "MB", "a recipe's own memory_mb is clamped to this"),
        ("drain_s", 5.0, "s", "on stop, queued reactions may run this long; the rest are abandoned"),
        ("max_value_bytes", 1 << 20, "bytes", "one data-store key or value (DataSet, DataPush)"),
        ("max_list_items", 100_000, "", "items of one DataPush list"),
        ("max_log_bytes", 64 << 10, "bytes", "Info/Warn/Error text kept per execution"),
        ("max_log_lines", 2000, "", "log lines kept per execution"),
        ("max_audit_line_bytes", 256 << 10, "bytes", "one audit record (shrunk beyond)"),
    )),
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
    fields = REACTION_FIELDS
    listed = {f.name for f in fields}
    extra = tuple(Field(f.name, _derived(f.name, f.type), None, "")
                  for f in dataclasses.fields(ReactionConfig) if f.name not in listed)
    return Section(fields + extra, "the reactions runtime (docs/reactions.md)")


# -- observability (issue 11): `from`, `metrics`, `log`; consumed by observe/runner.py --


def _listen_needs_token(raw: Any, vals: dict[str, Any], at: At) -> None:
    """An endpoint off loopback serves metrics to the network: only with a token."""
    from .observe.settings import DEFAULT_LISTEN, is_loopback, split_listen
    listen = vals.get("listen", DEFAULT_LISTEN)
    if not listen:
        return
    try:
        host, _ = split_listen(listen)
    except ValueError as e:  # the pattern lets 5 digits through: 70000 is no port
        at.diags.add("JR021", f"'{at.path}.listen': {e}", span_of(raw, "listen", at.span),
                     f"e.g. listen: {DEFAULT_LISTEN}")
        return
    if not vals.get("token"):
        if not is_loopback(host):
            at.diags.add("JR021", f"'{at.path}.listen' is {listen}, not a loopback address, so it "
                         "needs a token", span_of(raw, "listen", at.span),
                         "set metrics.token: a long random string, or listen on 127.0.0.1")


def observe_sections() -> dict[str, Kind]:
    from .observe.logs import FORMATS, LEVELS
    from .observe.settings import DEFAULT_LISTEN
    listen = Str(pattern=r"|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):\d{1,5}",
                 what='HOST:PORT ("" turns the server off)', sample=DEFAULT_LISTEN)
    paths = OneOf(((lambda v: isinstance(v, str), Path(sample="/etc/jibril/recipes")),
                   (lambda v: True, ListOf(Path(sample="/etc/jibril/recipes")))),
                  "a path or a list of paths")
    return {
        "from": paths,
        "metrics": Section((
            Field("listen", listen, DEFAULT_LISTEN, "/metrics, /healthz and the status page"),
            Field("token", Nullable(Str(nonempty=True, sample="a-long-random-string")), None,
                  "bearer token (required off loopback)"),
            Field("stall_s", Float(0.1, 3600, "s"), 10.0, "/healthz is 503 after this long without a loop turn"),
        ), "observability (docs/observability.md)", rules=(_listen_needs_token,)),
        "log": Section((
            Field("level", Nullable(Str(choices=(*LEVELS, "warn"))), None, "default info"),
            Field("format", Str(choices=FORMATS), "text"),
            Field("rate_per_s", Float(0, 1_000_000), 20.0, "reaction log records per recipe per second (0: unlimited)"),
            Field("burst", Int(0, 1_000_000), 50),
        ), "logging (docs/observability.md)"),
    }


OBSERVE_KEYS = ("from", "metrics", "log")


def recipes_section() -> Section:
    """What commands read when given no PATH / --from (Jibril's `alchemies:builtin=..:path=..`)."""
    return Section((
        Field("builtin", Bool(), True, "also the recipes shipped in the package (the alchemies/ library)"),
        Field("paths", Nullable(ListOf(Path(sample="/etc/jibril/recipes"))), None,
              "recipe files/folders (default: /etc/jibril/recipes when it exists)"),
    ), "recipe paths (docs/cli.md)")


def sections() -> dict[str, Kind]:
    """Top-level keys of jibril.yaml. Add a section here: one entry, one table."""
    return {
        "printers": ListOf(PrinterItem(), max_items=64),
        "reactions": reaction_section(),
        "recipes": recipes_section(),
        **observe_sections(),
        "bundles": bundles_section(),  # fleet (issue 10): trust keys, fleet/trust.py
    }


def schema() -> Section:
    return Section(tuple(Field(k, v) for k, v in sections().items()), dashes=False)


# ---- loading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    # printers as make_printers takes them: "stdout", "jsonl:/x", {"http": {...}}
    printers: tuple[Any, ...] = ("stdout",)
    reactions: dict[str, Any] = field(default_factory=dict)  # the keys the file sets, checked
    path: str | None = None
    # -- observability (issue 11): from / metrics / log as written, checked by the schema --
    observe: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # every checked top-level section
    recipe_paths: tuple[str, ...] | None = None  # recipes.paths (None: /etc/jibril/recipes if any)
    builtin: bool = True  # recipes.builtin: also load the recipes shipped in the package
    origin: str = "no configuration file found; defaults"  # which file, and why (said with -v)
    bundles: dict[str, Any] = field(default_factory=dict)  # fleet: {trust: [absolute paths]}

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

    def printer_specs(self, fmt: str = "human", extra: tuple[str, ...] = ()) -> list[Any]:
        """What `run` and `replay` print to: stdout as --format says (unless the file lists
        `none`), the file's other printers, then the `--output` ones (ValueError if bad)."""
        from .observe.runner import printer_specs
        outputs = tuple(parse_printer(x) for x in extra)
        return printer_specs(self.printers, fmt, outputs)


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


def load_config(path: str | None = None, overrides: Sequence[str] = (), search: bool = True) -> Config:
    """Load the given config, else the first of find_config() (when `search`), else defaults;
    with the -o overrides merged over it before it is checked.

    Raises JibrilError (located diagnostics) for a bad file or override, and
    overrides.OverrideError for an override that is not KEY=VALUE.
    """
    from .core.errors import Span
    from .overrides import apply_overrides
    found, origin = locate_config(path) if (path or search) else (None, "no configuration file; defaults")
    if found is None and not overrides:
        return Config(origin=origin)
    diags = Collector()
    doc = None
    if found is not None:
        src = read_source(found, diags)
        doc = load_yaml(src, diags) if src else None
        if doc is None and diags.errors:  # unreadable: nothing to check further
            raise JibrilError(diags.errors)
    if overrides:
        doc = apply_overrides(doc, overrides, diags)
        origin += "; -o " + ", ".join(o.partition("=")[0] for o in overrides)
    got = validate(doc, schema(), diags, Span(found or "<-o>"))
    if got is None or diags.errors:
        raise JibrilError(diags.errors)
    printers = got.get("printers")
    observe = {k: plain(doc[k]) for k in OBSERVE_KEYS if isinstance(doc, dict) and k in doc}
    rec = got.get("recipes") or {}
    paths = rec.get("paths")
    return Config(tuple(printers) if printers is not None else ("stdout",),
                  dict(got.get("reactions") or {}), found, observe, got,
                  tuple(str(p) for p in paths) if paths is not None else None,
                  bool(rec.get("builtin", True)), origin,
                  bundles=trust_config(found or "", got.get("bundles") or {}))


__all__ = ["Config", "PRINTER_KINDS", "PrinterKind", "find_config", "load_config", "locate_config",
           "parse_printer",
           "schema", "sections"]
