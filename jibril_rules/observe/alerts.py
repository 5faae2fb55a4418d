"""Detections in Falco's alert shape, added beside the Jibril fields (never replacing them).

Falco's JSON output (and falcosidekick's `/` input) reads `time` (RFC 3339), `rule`,
`priority` (one of Falco's eight names), `output`, `output_fields` (a flat map keyed by Falco
field names), `source`, `hostname`, `tags`; unknown keys are ignored, so the Jibril schema rides
along unchanged. `schema_version` lets a consumer pin the shape.
"""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from typing import Any

from ..core.vocab import IMPORTANCE

SCHEMA_VERSION = "1"
SOURCE = "jibril"
FALCO_KEYS = ("time", "rule", "priority", "output", "output_fields", "hostname", "source",
              "tags", "schema_version")
# Jibril importance -> Falco priority (Falco: Emergency Alert Critical Error Warning Notice
# Informational Debug); no importance is informational.
PRIORITY = dict(zip(IMPORTANCE, ("Notice", "Warning", "Error", "Critical"), strict=True))
DEFAULT_PRIORITY = "Informational"
# Falco priority -> syslog severity (RFC 5424 numbering)
SYSLOG_SEVERITY = {"Emergency": 0, "Alert": 1, "Critical": 2, "Error": 3, "Warning": 4,
                   "Notice": 5, "Informational": 6, "Debug": 7}

_HOST: list[str] = []


def _obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def hostname() -> str:
    if not _HOST:
        _HOST.append(socket.gethostname())
    return _HOST[0]


def rfc3339(ts: float | None = None) -> str:
    d = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return d.isoformat(timespec="microseconds").replace("+00:00", "Z")


def priority(importance: Any) -> str:
    return PRIORITY.get(str(importance or "").lower(), DEFAULT_PRIORITY)


def output_fields(ev: dict[str, Any]) -> dict[str, Any]:
    """The main fields, flat, under Falco's names; strings and ints only (falcosidekick
    type-asserts some of them)."""
    out: dict[str, Any] = {"evt.uuid": str(ev.get("uuid", "")),
                           "jibril.mechanism": str(ev.get("mechanism", ""))}
    proc = _obj(ev.get("process"))
    for key, src in (("proc.exe", "exe"), ("proc.cmdline", "cmd"), ("proc.name", "comm"),
                     ("proc.args", "args")):
        if proc.get(src) not in (None, ""):
            out[key] = str(proc[src])
    for key, src in (("proc.pid", "pid"), ("proc.ppid", "ppid"), ("user.uid", "uid")):
        if isinstance(proc.get(src), int):
            out[key] = proc[src]
    f = ev.get("file")
    if isinstance(f, dict) and f.get("file"):
        out["fd.name"] = str(f["file"])
        if f.get("dir"):
            out["fd.directory"] = str(f["dir"])
        if f.get("basename"):
            out["fd.filename"] = str(f["basename"])
        acts = f.get("actions") or []
        if acts:
            out["evt.type"] = ",".join(str(a) for a in acts)
    flow = ev.get("flow")
    if isinstance(flow, dict):
        r = _obj(flow.get("remote"))
        loc = _obj(flow.get("local"))
        if flow.get("proto"):
            out["fd.l4proto"] = str(flow["proto"])
        # Falco's s/c are server and client, r/l remote and local: the server is the remote
        # side unless the remote side initiated the connection (an inbound one)
        inbound = _obj(flow.get("phase")).get("initiated_by") == "remote"
        remote_role, local_role = ("fd.c", "fd.s") if inbound else ("fd.s", "fd.c")
        for side, rl, role in ((r, "fd.r", remote_role), (loc, "fd.l", local_role)):
            if side.get("address"):
                out[f"{rl}ip"] = out[f"{role}ip"] = str(side["address"])
            if isinstance(side.get("port"), int):
                out[f"{rl}port"] = out[f"{role}port"] = side["port"]
        names = r.get("names") or []
        if names:
            out["fd.rip.name"] = out[f"{remote_role}ip.name"] = str(names[0])
    return out


def one_line(rule: str, prio: str, fields: dict[str, Any], description: str = "") -> str:
    what = fields.get("fd.name") or (
        f"{fields.get('fd.l4proto', '')} {fields.get('fd.rip.name') or fields.get('fd.rip', '')}"
        f":{fields.get('fd.rport', '')}" if "fd.rip" in fields else "")
    head = f"{prio} {rule}" + (f": {description}" if description else "")
    return (f"{head} (proc.exe={fields.get('proc.exe', '-')} proc.pid={fields.get('proc.pid', '-')}"
            f"{' target=' + str(what).strip() if what else ''} evt.uuid={fields['evt.uuid']})")


def tags(meta: dict[str, Any]) -> list[str]:
    out = [SOURCE]
    for key in ("tactic", "technique", "subtechnique"):
        v = meta.get(key)
        if v:
            out.append(f"mitre_{key}:{v}" if key != "tactic" else f"mitre_{v}".replace(" ", "_"))
    if meta.get("kind"):
        out.append(f"kind:{meta['kind']}")
    return out


def falco_shape(ev: dict[str, Any], when: float | None = None) -> dict[str, Any]:
    """The Falco keys for one detection event (the Jibril detection object)."""
    meta = _obj(ev.get("metadata"))
    rule = str(meta.get("name", ""))
    prio = priority(meta.get("importance"))
    fields = output_fields(ev)
    return {"time": rfc3339(when), "rule": rule, "priority": prio,
            "output": one_line(rule, prio, fields, str(meta.get("description") or "")),
            "output_fields": fields, "hostname": hostname(), "source": SOURCE,
            "tags": tags(meta), "schema_version": SCHEMA_VERSION}


class _Last(threading.local):
    ev: Any = None
    shape: dict[str, Any] = {}


_last = _Last()


def shape_of(ev: dict[str, Any]) -> dict[str, Any]:
    """falco_shape of the detection being handed out right now: the observer and every printer
    get the same object (one computation, one detection time)."""
    if _last.ev is not ev:
        _last.shape = falco_shape(ev)
        _last.ev = ev
    return _last.shape


def alert(ev: dict[str, Any]) -> dict[str, Any]:
    """The Jibril detection with the Falco keys added (Jibril keys win nothing: none collide)."""
    out = dict(ev)
    out.update(shape_of(ev))
    return out
