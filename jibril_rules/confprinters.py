"""The `printers:` of jibril.yaml (and `--output`): one table of printer kinds, checked strictly.

A printer is `kind`, `kind:ARG` or a one-key mapping `{kind: {settings}}`. Checked printers
come back in the form `runtime.printers.make_printers` takes: the string (`jsonl:/x`), or for
settings `{kind: {the keys given}}`. Add a printer: one `PRINTER_KINDS` entry.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .core.confschema import INVALID, At, Field, Int, Kind, MapOf, Path, Section, Str
from .core.errors import Collector, Span
from .core.source import span_of
from .core.vocab import MAX_REACTION_TIMEOUT_MS

_URL = r"https?://[^\s/$.?#][^\s]*"
_ADDRESS = r"(/[^\s]*|udp://[A-Za-z0-9_.\-\[\]:]+:\d{1,5})"


@dataclass(frozen=True)
class PrinterKind:
    """A printer the agent knows: `arg` says whether `kind:ARG` is none/optional/required."""

    arg: str = "none"
    arg_kind: Kind | None = None
    body: Section | None = None  # the mapping form `- kind: {...}`
    doc: str = ""
    arg_key: str = ""  # the body key that `kind:ARG` sets (jsonl: path, http: url)


def _facilities() -> tuple[str, ...]:
    from .observe.outputs import FACILITIES
    return tuple(FACILITIES)


PRINTER_KINDS: dict[str, PrinterKind] = {
    "stdout": PrinterKind("optional", Str(choices=("human", "json")),
                          doc="detections on stdout: human lines, or `stdout:json` JSON lines"),
    "human": PrinterKind(doc="same as stdout"),
    "json": PrinterKind(doc="same as stdout:json"),
    "jsonl": PrinterKind("required", Path(sample="/var/log/jibril.jsonl"),
                         Section((Field("path", Path(sample="/var/log/jibril.jsonl"), None,
                                        "file the detections are appended to", required=True),)),
                         "JSON lines appended to a file: `jsonl:PATH`", "path"),
    "http": PrinterKind("required", Str(pattern=_URL, what="an http:// or https:// URL",
                                        sample="http://127.0.0.1:2801/"),
                        Section((
                            Field("url", Str(pattern=_URL, what="an http:// or https:// URL",
                                             sample="http://127.0.0.1:2801/"), required=True),
                            Field("headers", MapOf(Str(pattern=r"[A-Za-z0-9\-]{1,128}", what="a header name",
                                                       sample="Authorization"),
                                                   Str(max_len=8192, sample="Bearer TOKEN"))),
                            Field("timeout_ms", Int(1, MAX_REACTION_TIMEOUT_MS, "ms"), 2000),
                            Field("batch", Int(1, 10_000), 1),
                            Field("queue_size", Int(1, 10_000_000), 10_000),
                            Field("retries", Int(0, 100), 3),
                            Field("backoff_ms", Int(0, MAX_REACTION_TIMEOUT_MS, "ms"), 200),
                        )), "Falco-shaped alerts POSTed to a webhook: `http:URL`", "url"),
    "syslog": PrinterKind("optional", Str(pattern=_ADDRESS, what="a socket path or udp://HOST:PORT",
                                          sample="/dev/log"),
                          Section((
                              Field("address", Str(pattern=_ADDRESS, what="a socket path or udp://HOST:PORT",
                                                   sample="/dev/log"), "/dev/log"),
                              Field("facility", Str(choices=_facilities()), "daemon"),
                              Field("app_name", Str(pattern=r"[!-~]{1,48}", what="an RFC 5424 APP-NAME",
                                                    sample="jibril"), "jibril"),
                          )), "RFC 5424 syslog: `syslog` or `syslog:ADDRESS`", "address"),
    "none": PrinterKind(doc="print nothing on stdout"),
}
HINT = "printers: stdout, stdout:json, jsonl:PATH, http:URL, syslog[:ADDRESS], none"


@dataclass(frozen=True)
class PrinterItem(Kind):
    """`kind`, `kind:ARG`, or a one-key mapping `{kind: {settings}}`."""

    def check(self, value: Any, at: At) -> Any:
        if isinstance(value, str):
            return self._text(str(value), at)
        if isinstance(value, dict):
            if len(value) != 1:
                return at.bad("must name one printer with its settings",
                              "write e.g. - jsonl: {path: /var/log/jibril.jsonl}")
            (name, body), = value.items()
            kind = self._kind(str(name), at)
            if kind is None:
                return INVALID
            if kind.body is None:
                return at.bad(f"gives settings to printer '{name}', which takes none", f"write - {name}")
            got = kind.body.check(body, at.child(str(name), span_of(value, str(name), at.span)))
            if got is INVALID:
                return INVALID
            if kind.arg_key and set(got) == {kind.arg_key} and kind.arg == "required":
                return f"{name}:{got[kind.arg_key]}"  # the short form says the same
            return {str(name): dict(got)}
        return at.wrong_type("a printer name or a mapping", value, HINT)

    def _text(self, text: str, at: At) -> Any:
        if text.startswith(("http://", "https://")):
            text = "http:" + text
        name, sep, arg = text.partition(":")
        kind = self._kind(name.strip(), at)
        if kind is None:
            return INVALID
        if not sep:
            if kind.arg == "required":
                return at.bad(f"is '{name}', a printer that needs a value: {name}:{kind.arg_kind.example() if kind.arg_kind else 'VALUE'}",
                              f"write {name}:{kind.arg_kind.example() if kind.arg_kind else 'VALUE'}")
            return name
        if kind.arg == "none":
            return at.bad(f"is '{text}', but printer '{name}' takes no ':' value", f"write {name}")
        assert kind.arg_kind is not None
        got = kind.arg_kind.check(arg, at)
        return INVALID if got is INVALID else f"{name}:{got}"

    def _kind(self, name: str, at: At) -> PrinterKind | None:
        kind = PRINTER_KINDS.get(name)
        if kind is None:
            near = difflib.get_close_matches(name, list(PRINTER_KINDS), n=1)
            at.bad(f"is '{name}', an unknown printer", (f"did you mean '{near[0]}'? " if near else "") + HINT)
        return kind

    def describe(self) -> str:
        return "a printer"

    def example(self) -> str:
        return "stdout"


def parse_printer(text: str, where: str = "--output") -> Any:
    """A printer given on the command line; ValueError(message with hint) when it is wrong."""
    diags = Collector()
    got = PrinterItem().check(text, At(where, Span(f"<{where}>"), diags))
    if got is INVALID:
        d = diags.items[0]
        msg = d.message.replace(f"'{where}' ", "", 1)
        if ":" not in text and "." in text:
            msg += f"; to write JSON lines to that file use jsonl:{text}"
        raise ValueError(f"{where} {text!r}: {msg} ({d.hint})")
    return got


def printer_text(p: Any) -> str:
    """A printer as one short string (for messages and tests)."""
    if isinstance(p, dict):
        (kind, body), = p.items()
        return f"{kind}:{body}"
    return str(p)
