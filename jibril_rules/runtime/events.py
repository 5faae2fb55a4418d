"""Raw events: normalisation of what the sensor emits or a recording holds, and detections."""

from __future__ import annotations

import os
import uuid as uuidlib
from typing import Any

from ..core.vocab import (
    EVENT_TYPES,
    EXECUTION,
    FILE_ACCESS,
    FILE_ACTIONS,
    MECHANISMS,
    NETWORK_PEERS,
)
from . import host


class EventError(ValueError):
    """A malformed event; the message says which part and what is expected."""


def normalize(raw: Any) -> dict[str, Any]:
    """Return the event with mechanism set, file.actions a list and file.dir/basename filled."""
    if not isinstance(raw, dict):
        raise EventError("an event must be a JSON object")
    ev = dict(raw)
    f = ev.get("file")
    if f is not None:
        if not isinstance(f, dict):
            raise EventError("'file' must be an object")
        f = dict(f)
        acts = f.get("actions") or []
        if isinstance(acts, str):
            acts = [a for a in acts.split("|") if a]
        if not isinstance(acts, list):
            raise EventError("'file.actions' must be a list of action names")
        f["actions"] = [str(a) for a in acts]
        path = f.get("file")
        if isinstance(path, str) and path:
            f.setdefault("dir", os.path.dirname(path) or "/")
            f.setdefault("basename", os.path.basename(path))
        ev["file"] = f
    for key in ("process", "flow", "background"):
        if ev.get(key) is not None and not isinstance(ev[key], dict):
            raise EventError(f"'{key}' must be an object")
    mech = ev.get("mechanism")
    if mech is None:
        if isinstance(ev.get("flow"), dict):
            mech = NETWORK_PEERS
        elif f is not None:
            mech = EXECUTION if "execve" in f["actions"] else FILE_ACCESS
        else:
            raise EventError("cannot tell the event kind: add 'mechanism' or a 'file'/'flow' object")
    if mech not in MECHANISMS:
        raise EventError(f"unknown mechanism '{mech}'; expected one of {', '.join(MECHANISMS)}")
    ev["mechanism"] = mech
    if not ev.get("uuid"):
        ev["uuid"] = str(uuidlib.uuid4())
    return ev


def detection(ev: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The Jibril detection object: event + metadata + per-action booleans + `base` mirror.

    Jibril's Base fields (uuid, timestamp, note, metadata, background, habitat, scenario) are
    flattened to the top level and mirrored under `base`; `event_type` names the event kind.
    """
    det = dict(ev)
    det.pop("base", None)
    det["event_type"] = EVENT_TYPES.get(str(ev.get("mechanism")), str(ev.get("mechanism", "")))
    det["metadata"] = meta
    f = ev.get("file")
    if isinstance(f, dict):
        f = dict(f)
        acts = set(f.get("actions") or ())
        for a in FILE_ACTIONS:
            f[a] = a in acts
        det["file"] = f
    det.setdefault("note", "")
    det.setdefault("process", {})
    det.setdefault("background", {"ancestry": [], "flows": {}, "files": {}})
    if "habitat" not in det:
        det["habitat"] = {k: dict(v) for k, v in host.habitat().items()}
    if "scenario" not in det:
        det["scenario"] = [dict(s) for s in host.scenario()]
    det["base"] = {"uuid": det["uuid"], "timestamp": det.get("timestamp", ""),
                   "note": det["note"], "metadata": meta, "background": det["background"],
                   "habitat": det["habitat"], "scenario": det["scenario"]}
    if "attenuator" in det:
        det["base"]["attenuator"] = det["attenuator"]
    return det
