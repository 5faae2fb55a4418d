"""falcosidekick's Falco input, as a check: shared by the observability tests."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

FALCO_PRIORITIES = {"emergency", "alert", "critical", "error", "warning", "notice",
                    "informational", "debug"}


def check_falcosidekick_payload(body: dict[str, Any]) -> None:
    """Field names and types as falcosidekick's Falco input (types.FalcoPayload) decodes them,
    and its Check(): priority known, rule set, time set, output_fields non-empty."""
    assert isinstance(body["output"], str) and body["output"]
    assert isinstance(body["priority"], str) and body["priority"].lower() in FALCO_PRIORITIES
    assert isinstance(body["rule"], str) and body["rule"]
    t = body["time"]
    assert isinstance(t, str) and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", t), t
    datetime.fromisoformat(t.replace("Z", "+00:00"))
    of = body["output_fields"]
    assert isinstance(of, dict) and of
    assert all(isinstance(k, str) for k in of)
    assert all(v is None or isinstance(v, str | int | float | bool) for v in of.values())
    for k in ("k8s.ns.name", "k8s.pod.name"):  # falcosidekick type-asserts these to string
        assert k not in of or isinstance(of[k], str)
    assert isinstance(body["source"], str) and body["source"]
    assert isinstance(body["tags"], list) and all(isinstance(x, str) for x in body["tags"])
    assert isinstance(body["hostname"], str)
    assert "uuid" not in body or isinstance(body["uuid"], str)
