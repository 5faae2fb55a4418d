"""jibril.yaml against its one declarative schema: strict types, bounds, every error located.

Review findings 3, 8 and 11 of issue 7: string booleans, scalars for lists, bad numbers and
names each give a located error with a hint instead of misbehaving or a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jibril_rules.config import load_config, parse_printer, schema
from jibril_rules.core.errors import JibrilError
from jibril_rules.reactions import ReactionConfig


def errors(tmp_path: Path, text: str) -> list[tuple[str, int, int, str, str]]:
    p = tmp_path / "jibril.yaml"
    p.write_text(text)
    with pytest.raises(JibrilError) as e:
        load_config(str(p))
    out = [(d.code, d.span.line, d.span.col, d.message, d.hint) for d in e.value.diagnostics]
    for d in e.value.diagnostics:
        assert d.span.file == str(p) and d.hint and "Traceback" not in d.message
    return out


# (text after "reactions:\n  ", code, column of the value, words in the message or hint)
BAD_REACTIONS = [
    ('allow_poweroff: "false"', "JR021", 19, "true or false"),
    ('allow_poweroff: "no"', "JR021", 19, "write allow_poweroff: false"),
    ('allow_panic: "0"', "JR021", 16, "true or false"),
    ("writable_roots: /tmp/x", "JR021", 19, "writable_roots: [/tmp/x]"),
    ("protected_names: advsleep", "JR021", 20, "protected_names: [advsleep]"),
    ('workers: "four"', "JR021", 12, "whole number"),
    ("workers: 0", "JR022", 12, "at least 1"),
    ('rate_limit: "x"', "JR021", 15, "whole number"),
    ("rate_limit: -1", "JR022", 15, "at least 0"),
    ('dedup_window_s: "x"', "JR021", 19, "a number"),
    ('net_table: "a b"', "JR022", 14, "nftables table name"),
    ("audit_path: 5", "JR021", 15, "a path"),
    ('protected_pids: ["x"]', "JR021", 20, "whole number"),
    ("protected_pids: 7", "JR021", 19, "a list"),
    ("state_dir: /proc/1", "JR022", 14, "/proc"),
    ("temp_root: tmp", "JR022", 14, "absolute"),
    ("timeout_ms: true", "JR021", 15, "whole number"),
    ("timeout_ms: 1000000000000000", "JR022", 15, "at most"),
    ("memory_mb: 1000000", "JR022", 14, "at most 4096"),
    ('min_pid: "abc"', "JR021", 12, "whole number"),
    ("mode: loud", "JR022", 9, "monitor, enforce"),
    ("net_allowlist: [10.0.0.0/8, nope]", "JR022", 31, "CIDR"),
    ("net_allowlist: 10.0.0.0/8", "JR021", 18, "a list"),
    ("netpolcy: true", "JR020", 3, "did you mean 'netpolicy'?"),
]


@pytest.mark.parametrize(("line", "code", "col", "words"), BAD_REACTIONS, ids=[b[0] for b in BAD_REACTIONS])
def test_each_bad_value_is_located(tmp_path: Path, line: str, code: str, col: int, words: str) -> None:
    got = errors(tmp_path, f"printers: [stdout]\nreactions:\n  {line}\n")
    assert len(got) == 1, got
    (c, ln, cl, msg, hint), = got
    assert (c, ln, cl) == (code, 3, col), got
    assert words in msg + " " + hint, got


def test_every_error_at_once_each_on_its_own_line(tmp_path: Path) -> None:
    lines = list({b[0].split(":")[0]: b[0] for b in reversed(BAD_REACTIONS)}.values())
    text = "reactions:\n" + "".join(f"  {x}\n" for x in lines)
    got = errors(tmp_path, text)
    assert sorted(ln for _, ln, *_ in got) == list(range(2, 2 + len(lines)))


def test_workers_four_on_its_own_line_not_an_internal_error(tmp_path: Path) -> None:
    (code, line, col, msg, hint), = errors(tmp_path, 'reactions:\n  mode: monitor\n  workers: "four"\n')
    assert (code, line, col) == ("JR021", 3, 12)
    assert "'<=' not supported" not in msg and "workers: 4" in hint


@pytest.mark.parametrize(("text", "col", "words"), [
    ("printers: [stdout, jsonl]", 20, "needs a value"),
    ("printers: [stdout, foo]", 20, "unknown printer"),
    ("printers: ['jsonl:']", 12, "must not be empty"),
    ("printers: stdout", 11, "printers: [stdout]"),
    ("printers: [stdout:xml]", 12, "human, json"),
    ("printers: [{stdout: {}}]", 12, "takes none"),
    ("printers: [{jsonl: {path: /tmp/x, colour: red}}]", 35, "unknown key"),
    ("printers: [{jsonl: {}}]", 20, "path"),
    ("printers: [5]", 12, "printer name"),
    ("printers: ['http:ftp://x']", 12, "http:// or https:// URL"),
    ("printers: [{http: {url: 'http://127.0.0.1:1/', batch: 0}}]", 55, "at least 1"),
    ("printers: [{http: {url: 'http://127.0.0.1:1/', headers: [a]}}]", 57, "a mapping"),
    ("printers: [{syslog: {facility: local9}}]", 32, "did you mean"),
    ("printers: ['syslog:tcp://x:1']", 12, "udp://HOST:PORT"),
])
def test_bad_printers(tmp_path: Path, text: str, col: int, words: str) -> None:
    got = errors(tmp_path, text + "\n")
    assert len(got) == 1 and got[0][1:3] == (1, col), got
    assert words in got[0][3] + " " + got[0][4], got


def test_good_file_gives_typed_values(tmp_path: Path) -> None:
    p = tmp_path / "ok.yaml"
    p.write_text("printers: [stdout, 'jsonl:/tmp/x.jsonl', {jsonl: {path: /tmp/y.jsonl}}]\n"
                 "reactions:\n  mode: enforce\n  netpolicy: true\n  protected_pids: [1000, 1001]\n"
                 "  writable_roots: [/srv/q]\n  rate_window_s: 2\n  queue-size: 10\n")
    cfg = load_config(str(p))
    assert cfg.printers == ("stdout", "jsonl:/tmp/x.jsonl", "jsonl:/tmp/y.jsonl")
    assert cfg.netpolicy and cfg.reactions["protected_pids"] == (1000, 1001)
    assert cfg.get("reactions.workers") == 4 and cfg.get("reactions.queue_size") == 10
    rc = ReactionConfig.from_dict(cfg.reactions)
    assert rc.writable_roots == ("/srv/q",) and rc.rate_window_s == 2 and rc.mode == "enforce"


def test_printer_specs_of_run_and_replay(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("printers: [stdout, 'jsonl:/tmp/a.jsonl']\n")
    cfg = load_config(str(p))
    assert cfg.printer_specs("json", ("jsonl:/tmp/b",)) == [
        "stdout:json", "jsonl:/tmp/a.jsonl", "jsonl:/tmp/b"]
    p.write_text("reactions: {mode: monitor}\n")
    assert load_config(str(p)).printer_specs() == ["stdout"]
    p.write_text("printers: [none, 'https://127.0.0.1:1/x', {http: {url: 'http://127.0.0.1:1/', batch: 5}},"
                 " syslog, {jsonl: {path: /tmp/c}}]\n")
    assert load_config(str(p)).printer_specs() == [
        "http:https://127.0.0.1:1/x", {"http": {"url": "http://127.0.0.1:1/", "batch": 5}}, "syslog",
        "jsonl:/tmp/c"]
    with pytest.raises(ValueError, match="jsonl:out.jsonl"):
        parse_printer("out.jsonl")


def test_every_reaction_config_field_is_in_the_schema_with_bounds() -> None:
    """A new ReactionConfig key gets a row in config.REACTION_FIELDS (a bounded kind)."""
    import dataclasses

    from jibril_rules.config import REACTION_FIELDS
    from jibril_rules.core.confschema import Float, Int
    rows = {f.name: f for f in REACTION_FIELDS}
    for f in dataclasses.fields(ReactionConfig):
        assert f.name in rows, f"ReactionConfig.{f.name} has no row in config.REACTION_FIELDS"
        kind = rows[f.name].kind
        if isinstance(kind, (Int, Float)):
            assert kind.min is not None and kind.max is not None, f.name


def test_defaults_pass_their_own_schema() -> None:
    from jibril_rules.core.confschema import At
    from jibril_rules.core.errors import Collector, Span
    diags = Collector()
    sec = schema().by_name()["reactions"].kind
    vals = {k: v for k, v in sec.defaults().items() if v is not None}  # type: ignore[attr-defined]
    sec.check(vals, At("reactions", Span("<defaults>"), diags))
    assert not diags.items, diags.items


def test_reaction_config_itself_refuses_loose_types() -> None:
    for bad in ({"allow_poweroff": "false"}, {"writable_roots": "/tmp/x"}, {"workers": True},
                {"protected_names": "advsleep"}, {"timeout_ms": "10"}):
        with pytest.raises((TypeError, ValueError)):
            ReactionConfig(**bad)  # type: ignore[arg-type]


def test_config_does_not_import_the_compiler() -> None:
    code = ("import sys, jibril_rules.config as c; c.load_config('jibril.yaml'); c.schema();"
            "bad = [m for m in ('lark', 'cerberus') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_replay_honours_the_printers_key(tmp_path: Path) -> None:
    """Review finding 8: `printers:` in jibril.yaml is what replay prints to."""
    import json
    (tmp_path / "r.yaml").write_text(
        "- kind: k\n  name: passwd_w\n  mechanism: file_access\n  file_actions: [write]\n"
        "  bases: [{dir: /etc, base: passwd}]\n")
    (tmp_path / "ev.jsonl").write_text(json.dumps(
        {"uuid": "e1", "file": {"file": "/etc/passwd", "actions": ["write"]}}) + "\n")
    out = tmp_path / "det.jsonl"
    (tmp_path / "jibril.yaml").write_text(f"printers: [none, 'jsonl:{out}']\n")
    r = subprocess.run([sys.executable, "-m", "jibril_rules.cli", "replay", "ev.jsonl", "--from", "r.yaml"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "DETECT" not in r.stdout  # `none` replaced the default stdout printer
    assert json.loads(out.read_text())["metadata"]["name"] == "passwd_w"


def test_observability_tables_match_their_settings_classes() -> None:
    """The schema rows and the dataclasses observe/ builds from them name the same keys."""
    import dataclasses

    from jibril_rules.config import PRINTER_KINDS, observe_sections
    from jibril_rules.observe.outputs import HttpSettings, SyslogSettings
    from jibril_rules.observe.settings import LogSettings, MetricsSettings
    pairs = [(PRINTER_KINDS["http"].body, HttpSettings), (PRINTER_KINDS["syslog"].body, SyslogSettings),
             (observe_sections()["metrics"], MetricsSettings), (observe_sections()["log"], LogSettings)]
    for sec, cls in pairs:
        assert set(sec.by_name()) == {f.name for f in dataclasses.fields(cls)}, cls  # type: ignore[union-attr]


def test_metrics_off_loopback_needs_a_token(tmp_path: Path) -> None:
    (code, line, col, msg, hint), = errors(tmp_path, "metrics:\n  listen: 0.0.0.0:9376\n")
    assert (code, line, col) == ("JR021", 2, 11) and "token" in hint
    p = tmp_path / "ok.yaml"
    p.write_text("metrics: {listen: '0.0.0.0:9376', token: t}\nlog: {level: warn}\nfrom: /etc/jibril/recipes\n")
    cfg = load_config(str(p))
    assert cfg.observe["metrics"]["token"] == "t" and cfg.get("log.format") == "text"
